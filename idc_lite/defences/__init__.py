"""Diffusion-based defences, trained and attacked beside IDC (the paper's claim C1).

- :mod:`~idc_lite.defences.ddpm`: a DDPM on the kit's U-Net (the noise schedule, DDIM steps, a
  class-conditional U-Net and a training loop);
- :mod:`~idc_lite.defences.purification`: DiffPure-style purification (Nie et al., ICML 2022): diffuse the
  input to t*, run the reverse process back, classify with a CNN (random: fresh noise on every call);
- :mod:`~idc_lite.defences.likelihood`: an RDC-style diffusion classifier (Li et al., ICCV 2023; Chen et
  al., ICML 2024): the class whose conditional denoiser predicts the added noise best, over a fixed set
  of timesteps and noises (deterministic);
- :mod:`~idc_lite.defences.store`: denoisers on disk, reused only when made with the same settings.

Both take images (B, C, H, W) in [0, 1] and return logits (B, K), as every model the attacks accept.
It imports the model, training, shipped and the foundation;
``evaluation`` is beside it, and neither imports the other.
"""
from idc_lite.defences.ddpm import DDPMConfig, DDPMSchedule, DenoiserRecipe, train_denoiser
from idc_lite.defences.likelihood import DiffusionLikelihoodClassifier
from idc_lite.defences.purification import DiffPure
from idc_lite.defences.store import load_or_train_denoiser

__all__ = ["DDPMConfig", "DDPMSchedule", "DenoiserRecipe", "DiffPure", "DiffusionLikelihoodClassifier",
           "load_or_train_denoiser", "train_denoiser"]
