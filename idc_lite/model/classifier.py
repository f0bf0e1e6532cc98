"""The IDC classifier as an ``nn.Module``: images in [0, 1] -> logits ``-distance / tau``.

A prediction runs the bridge sampler from the input to (near) a label image and picks the
label image at the smallest mean absolute distance.  The sampler injects noise, so the
classifier is random.  Where the noise comes from, per call:

1. ``noise=`` a list of tensors (exact draws, used as given; finite, one per step but the last; giving
   ``generator=`` too is refused), else
2. fixed-noise mode (:meth:`fix_noise`): a fresh generator with the same seed every call, so
   every call sees the same noise (what the authors get with ``torch.manual_seed(0)``); it
   overrides a ``generator=`` argument, so attack code written for random models needs no change, else
3. ``generator=`` a ``torch.Generator``, else
4. the module's own generator ``self.generator`` (random by default, seeded, replaceable).

In cases 2 to 4 the sampler never draws from that generator itself but from a child stream spawned
from it (:func:`idc_lite.foundation.streams.sampler_noise_generator`): the label images are built from seed 0's
first normals, and a sampler drawing them again would push example i of a batch towards class i.
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Sequence

import torch
from torch import nn

from idc_lite.foundation.errors import InputError
from idc_lite.foundation.machine import native_bf16
from idc_lite.foundation.streams import sampler_noise_generator
from idc_lite.foundation.validation import check_choice, check_generator, check_images, check_int
from idc_lite.model.bridge import BrownianBridge, SampleResult
from idc_lite.model.config import IDCConfig
from idc_lite.model.label_images import make_label_images
from idc_lite.model.unet import UNet


def to_model_scale(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1], as the authors' ``to_normal`` (values clamped to [-1, 1]).

    The clamp passes gradients straight through.  Its values are the authors' (for images in [0, 1]
    it changes nothing), but torch's ``clamp`` gives a zero gradient to a value exactly at a bound,
    and pixels exactly 0 or 1 are most of an MNIST digit (83 % of the gradient was zero): attacks
    through the classifier could not move them, a gradient masking of the kit's own making."""
    scaled = (x - 0.5) * 2.0
    return scaled + (scaled.clamp(-1.0, 1.0) - scaled).detach()


def to_image_scale(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1] (clamped), as the authors do before measuring distances."""
    return (x * 0.5 + 0.5).clamp(0.0, 1.0)


class IDCClassifier(nn.Module):
    """Image-to-image diffusion classifier.

    Example::

        model = IDCClassifier(IDCConfig()).eval()
        logits = model(x, generator=torch.Generator().manual_seed(0))   # x: (B, 1, 16, 16) in [0, 1]
        labels = logits.argmax(dim=1)
    """

    def __init__(self, config: IDCConfig, seed: int = 0):
        if not isinstance(config, IDCConfig):
            raise InputError(f"config must be an IDCConfig, got {type(config).__name__}")
        check_int(seed, "seed", 0)
        super().__init__()
        self.config = config
        self.unet = UNet(config.unet)
        self.bridge = BrownianBridge.from_config(config)
        self.register_buffer("label_images", make_label_images(config.num_classes, config.image_shape, config.label_seed),
                             persistent=False)
        self.generator = torch.Generator().manual_seed(seed)
        self.fixed_noise_seed: int | None = None
        self.unet_autocast: torch.dtype | None = None   # set on a bf16 gradient twin only

    # ---- randomness -------------------------------------------------------------------------
    def fix_noise(self, seed: int | None = 0) -> "IDCClassifier":
        """Fixed-noise mode: every call draws the same noise (seed); ``None`` returns to random mode."""
        self.fixed_noise_seed = seed
        return self

    def set_generator(self, generator: torch.Generator) -> "IDCClassifier":
        """Use this generator for calls that bring no noise of their own."""
        self.generator = check_generator(generator)
        return self

    def _noise_source(self, generator, noise):
        check_generator(generator, optional=True)
        if noise is not None:
            if generator is not None:
                raise InputError("pass exactly one of generator= or noise= (explicit draws are used as given)")
            return None, noise
        if self.fixed_noise_seed is not None:   # fixed means fixed: it overrides a generator argument
            generator = torch.Generator().manual_seed(self.fixed_noise_seed)
        elif generator is None:
            generator = self.generator
        # never the caller's stream itself: see the module docstring and idc_lite.foundation.streams
        return sampler_noise_generator(generator), None

    def gradient_twin(self, precision: str = "fp32") -> "IDCClassifier":
        """The same classifier (shared weights, label images and noise settings) with the no-op step
        of quirk Q1 dropped: 3 U-Net calls per prediction instead of 4.  ``precision='bf16'`` also
        runs each U-Net call under bfloat16 autocast (the sampler's arithmetic and the distances stay
        in the model's dtype): cheaper gradients where the CPU or GPU has bf16 natively, which
        ``'auto'`` checks (:func:`idc_lite.foundation.machine.native_bf16`); ``twin.unet_autocast`` says which.

        For attack *gradients* only: the no-op step moves the state by sqrt(3e-8) times a noise draw,
        so with the same draws (the 4-call sampler's first and third) both give the same predictions
        (``tests/model/test_classifier.py``), at three quarters of the cost.  Adversarial examples made on
        the twin are still *scored* on the faithful 4-call model (``evaluate_attacks(gradient_model=...)``).
        """
        check_choice(precision, "precision", ("fp32", "bf16", "auto"))
        if precision == "auto":
            precision = "bf16" if native_bf16(self.label_images.device) else "fp32"
        twin = copy.copy(self)                   # shares the U-Net and buffers; the sampler is its own
        twin.config = dataclasses.replace(self.config, skip_noop_steps=True)
        twin.bridge = BrownianBridge.from_config(twin.config)
        twin.unet_autocast = torch.bfloat16 if precision == "bf16" else None
        return twin

    # ---- the pieces -------------------------------------------------------------------------
    def denoise(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """One U-Net call: (B, C, H, W) on the [-1, 1] scale, (B,) long -> objective (x_t's dtype)."""
        if self.unet_autocast is None:
            return self.unet(x_t, t)
        with torch.autocast(x_t.device.type, dtype=self.unet_autocast):
            return self.unet(x_t, t).to(x_t.dtype)

    def sample(self, x: torch.Tensor, *, generator: torch.Generator | None = None,
               noise: Sequence[torch.Tensor] | None = None, return_trajectory: bool = False,
               validate: bool = True) -> SampleResult:
        """Run the sampler on images x (B, C, H, W) in [0, 1]; result tensors are on the [-1, 1] scale.
        Any floating dtype is cast to the model's (see :mod:`idc_lite.foundation.validation`)."""
        if validate:
            x = check_images(x, self.config.unet.in_channels, self.config.unet.image_size, dtype=self.label_images.dtype)
        generator, noise = self._noise_source(generator, noise)
        return self.bridge.sample(self.denoise, to_model_scale(x), generator=generator, noise=noise,
                                  clip_denoised=self.config.clip_denoised, return_trajectory=return_trajectory)

    def distances_to_label_images(self, images: torch.Tensor) -> torch.Tensor:
        """Mean absolute distance (B, K) of images (B, C, H, W) in [0, 1] to every label image."""
        return (images.unsqueeze(1) - self.label_images.unsqueeze(0)).abs().mean(dim=(2, 3, 4))

    def distances(self, x: torch.Tensor, *, generator: torch.Generator | None = None,
                  noise: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """(B, K) distances of the sampler's output for x (B, C, H, W) in [0, 1] to the label images."""
        final = to_image_scale(self.sample(x, generator=generator, noise=noise).x0)
        return self.distances_to_label_images(final)

    def forward(self, x: torch.Tensor, *, generator: torch.Generator | None = None,
                noise: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        """Logits (B, K) = -distance / tau for images x (B, C, H, W) in [0, 1]."""
        return -self.distances(x, generator=generator, noise=noise) / self.config.tau

    @torch.no_grad()
    def predict(self, x: torch.Tensor, *, generator: torch.Generator | None = None, batch_size: int = 256) -> torch.Tensor:
        """Predicted classes (B,) long, computed in batches without gradients."""
        x = check_images(x, self.config.unet.in_channels, self.config.unet.image_size, dtype=self.label_images.dtype)
        check_int(batch_size, "batch_size", 1)
        return torch.cat([self(x[i:i + batch_size], generator=generator).argmax(dim=1)
                          for i in range(0, x.shape[0], batch_size)])


