"""What an attack queries instead of the random model itself: the same noise every time
(:class:`FixedNoise`), the sampler treated as the identity backwards (:class:`BPDA`), the
deterministic first-step surrogate (:class:`FirstStepSurrogate`); and :class:`CountingModel`, which
counts the gradient draws and queries an attack spends."""
from __future__ import annotations

import torch
from torch import nn

from idc_lite.evaluation.attacks.core import LogitModel


class ModelWrapper(nn.Module):
    """A module around ``model`` that starts in ``model``'s mode (eval, for an evaluated model).  torchattacks
    restores the mode of the module it attacks, recursively: a wrapper left in nn.Module's default training mode
    would leave the wrapped model in training mode after every attack (dropout on, for a U-Net that has it)."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.train(getattr(model, "training", False))


class FixedNoise(ModelWrapper):
    """The same sampler noise at every query: ``model(x, generator=Generator().manual_seed(seed))``,
    whatever generator the attack passes.  Attacking it and scoring the original random model
    with fresh noise shows how much of the robustness is only randomness."""

    def __init__(self, model: LogitModel, seed: int = 0):
        super().__init__(model)
        self.seed = seed

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.model(x, generator=torch.Generator().manual_seed(self.seed))


class BPDA(ModelWrapper):
    """Backward Pass Differentiable Approximation (Athalye et al. 2018) for an IDC classifier: the
    forward pass runs the real sampler, the backward pass treats the sampler as the identity
    (straight-through), so gradients are those of ``-distance(image) / tau`` at the sampler's output.
    For comparison with the full gradient, which the sampler's few calls make affordable."""

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        from idc_lite.model.classifier import to_image_scale

        with torch.no_grad():
            purified = to_image_scale(self.model.sample(x, generator=generator).x0)
        straight_through = x + (purified - x).detach()
        return -self.model.distances_to_label_images(straight_through) / self.model.config.tau


class FirstStepSurrogate(ModelWrapper):
    """A deterministic surrogate of an IDC classifier for transfer attacks: logits
    ``-distance / tau`` of the sampler's *first* x0 prediction, which the U-Net makes from the
    input alone before any noise is injected (one U-Net call instead of four).

    Why it is a good adaptive attack: every later step starts from this prediction, so pushing
    it towards a wrong label image moves the whole trajectory, and its gradient carries no
    sampler noise.  Its examples are scored on the real, random classifier.
    """

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        from idc_lite.model.classifier import to_image_scale, to_model_scale

        bridge, m = self.model.bridge, self.model
        y = to_model_scale(x)
        t = torch.full((x.shape[0],), bridge.steps[0], dtype=torch.long, device=x.device)
        x0 = bridge.predict_x0(y, y, t, m.denoise(y, t))
        if m.config.clip_denoised:
            x0 = x0.clamp(-1.0, 1.0)
        return -m.distances_to_label_images(to_image_scale(x0)) / m.config.tau


class WithGenerator(ModelWrapper):
    """``model(x)`` for libraries that call it without arguments: the sampler's noise comes from
    ``generator``, fresh at every call."""

    def __init__(self, model, generator: torch.Generator):
        super().__init__(model)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, generator=self.generator)


class CountingModel(ModelWrapper):
    """``model`` itself, counting what an attack spends: ``gradient_draws`` (images sent through with
    autograd recording, one gradient each) and ``queries`` (images sent through without).  Divided by
    the number of attacked examples, they are the draws per example that the evaluation records."""

    def __init__(self, model):
        super().__init__(model)
        self.gradient_draws = 0
        self.queries = 0

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            self.gradient_draws += x.shape[0]
        else:
            self.queries += x.shape[0]
        return self.model(x, generator=generator)

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:   # what a wrapper asks of the model (bridge, config, sample, ...)
            return getattr(super().__getattr__("model"), name)
