"""The Brownian bridge (BBDM) between a label image (t = 0) and an input image (t = T).

Everything here works on the network's [-1, 1] scale and knows nothing of the U-Net: the
sampler takes any callable ``denoise_fn(x_t, t) -> objective``.  Randomness is never drawn from
the global RNG: pass a ``torch.Generator`` or the exact noise tensors.

Notation as in the authors' ``BrownianBridgeModel.py``: ``x0`` is the label image, ``y`` the
input image, ``m_t`` the bridge's mixing weight and ``variance_t = 2 (m_t - m_t^2) max_var``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch

from idc_lite.foundation.errors import InputError
from idc_lite.foundation.validation import check_noise

DenoiseFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


OBJECTIVES = ("grad", "noise", "ysubx")


def make_schedule(num_timesteps: int, mt_type: str = "linear", max_var: float = 1.0,
                  dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Bridge schedule, computed in float64 like the authors' numpy code, returned as ``dtype``
    (float32, as the official buffers; float64 for exact-arithmetic checks), each of shape (T,).

    Keys: ``m_t``, ``m_tminus``, ``variance_t``, ``variance_tminus``, ``variance_t_tminus``,
    ``posterior_variance_t`` (the names of the official checkpoint's buffers).
    """
    if num_timesteps < 2:
        raise ValueError(f"num_timesteps must be at least 2, got {num_timesteps}")
    T = int(num_timesteps)
    if mt_type == "linear":
        m_t = np.linspace(0.001, 0.999, T)
    elif mt_type == "sin":
        m_t = 1.0075 ** np.linspace(0, T, T)
        m_t = m_t / m_t[-1]
        m_t[-1] = 0.999
    else:
        raise ValueError(f"mt_type must be 'linear' or 'sin', got {mt_type!r}")
    m_tminus = np.append(0, m_t[:-1])
    variance_t = 2.0 * (m_t - m_t**2) * max_var
    variance_tminus = np.append(0.0, variance_t[:-1])
    variance_t_tminus = variance_t - variance_tminus * ((1.0 - m_t) / (1.0 - m_tminus)) ** 2
    posterior_variance_t = variance_t_tminus * variance_tminus / variance_t
    arrays = dict(m_t=m_t, m_tminus=m_tminus, variance_t=variance_t, variance_tminus=variance_tminus,
                  variance_t_tminus=variance_t_tminus, posterior_variance_t=posterior_variance_t)
    return {k: torch.tensor(v, dtype=dtype) for k, v in arrays.items()}


def posterior_variance(m_t, m_next, var_t, var_next):
    """Variance of the sampler's posterior step from t to the next step (the official ``sigma2_t``):

        (var_t - var_next (1 - m_t)^2 / (1 - m_next)^2) var_next / var_t

    Works on floats or tensors alike.  For the no-op step (next = t, quirk Q1) it is zero in
    exact arithmetic, and only rounding makes it differ from 0."""
    return (var_t - var_next * (1.0 - m_t) ** 2 / (1.0 - m_next) ** 2) * var_next / var_t


def official_sample_steps(num_timesteps: int, sample_step: int, skip_sample: bool = True) -> list[int]:
    """The authors' skip-sampling step list (``sample_type='linear'``).

    ``arange(T-1, 1, -(T-1)/(sample_step-2)).long()`` followed by ``[1, 0]``.  For T = 4 and
    sample_step = 4 this is ``[3, 1, 1, 0]``: the step 1 -> 1 is a no-op (its posterior variance
    is zero in exact arithmetic, about 3e-8 after float32 rounding) that still costs a network
    call and a noise draw (quirk Q1, see :func:`dedupe_steps`).
    """
    if not skip_sample:
        return list(range(num_timesteps - 1, -1, -1))
    if sample_step < 3:
        raise ValueError(f"the official skip sampler needs sample_step >= 3, got {sample_step}")
    mid = torch.arange(num_timesteps - 1, 1, step=-((num_timesteps - 1) / (sample_step - 2))).long()
    return [int(s) for s in mid] + [1, 0]


def dedupe_steps(steps: Sequence[int]) -> list[int]:
    """The fix for quirk Q1: drop repeated steps (``[3, 1, 1, 0] -> [3, 1, 0]``), same result, one call fewer."""
    out: list[int] = []
    for s in steps:
        if not out or out[-1] != s:
            out.append(int(s))
    return out


def _at(values: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Gather ``values[t]`` (t: (B,) long) and shape it to broadcast over ``like`` (B, C, H, W)."""
    return values.to(like.device, like.dtype)[t].reshape(-1, *([1] * (like.dim() - 1)))


@dataclass
class SampleResult:
    """What :meth:`BrownianBridge.sample` returns.

    ``x0``: final image (B, C, H, W) in [-1, 1] (the last step's clipped prediction).
    ``trajectory``: states, input first, length len(steps) + 1 (only with return_trajectory).
    ``x0_predictions``: predicted label image at each step (only with return_trajectory).
    ``noise``: the Gaussian draws used, one per step except the last.
    """
    x0: torch.Tensor
    trajectory: list[torch.Tensor] = field(default_factory=list)
    x0_predictions: list[torch.Tensor] = field(default_factory=list)
    noise: list[torch.Tensor] = field(default_factory=list)


class BrownianBridge:
    """Schedule, forward process, training targets and the skip-step sampler of BBDM.

    Args:
        num_timesteps: T (the paper uses 4).
        mt_type: 'linear' or 'sin'.
        max_var: variance scale.
        objective: what the network predicts: 'grad' (official), 'noise' or 'ysubx'.
        sample_step: length of the official skip-step list.
        eta: scale of the sampler's noise (1.0 official, 0.0 deterministic).
        skip_noop_steps: False reproduces the official step list (quirk Q1); True drops the no-op.
    """

    def __init__(self, num_timesteps: int = 4, mt_type: str = "linear", max_var: float = 1.0,
                 objective: str = "grad", sample_step: int = 4, eta: float = 1.0,
                 skip_sample: bool = True, skip_noop_steps: bool = False):
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        self.num_timesteps = int(num_timesteps)
        self.mt_type, self.max_var, self.objective = mt_type, float(max_var), objective
        self.sample_step, self.eta, self.skip_sample = int(sample_step), float(eta), bool(skip_sample)
        self.skip_noop_steps = bool(skip_noop_steps)
        self.schedule = make_schedule(self.num_timesteps, mt_type, self.max_var)
        self.official_steps = official_sample_steps(self.num_timesteps, self.sample_step, self.skip_sample)
        self.steps = dedupe_steps(self.official_steps) if skip_noop_steps else list(self.official_steps)

    @classmethod
    def from_config(cls, config, **overrides) -> "BrownianBridge":
        """Build from an :class:`~idc_lite.model.config.IDCConfig` (keyword overrides win)."""
        kwargs = dict(num_timesteps=config.num_timesteps, mt_type=config.mt_type, max_var=config.max_var,
                      objective=config.objective, sample_step=config.sample_step, eta=config.eta,
                      skip_sample=config.skip_sample, skip_noop_steps=config.skip_noop_steps)
        kwargs.update(overrides)
        return cls(**kwargs)

    @property
    def m_t(self) -> torch.Tensor:
        return self.schedule["m_t"]

    @property
    def variance_t(self) -> torch.Tensor:
        return self.schedule["variance_t"]

    @property
    def num_network_calls(self) -> int:
        """U-Net evaluations per sample: len(steps) (4 officially, 3 with the no-op removed)."""
        return len(self.steps)

    @property
    def num_noise_draws(self) -> int:
        """Gaussian draws per sample: one per step except the last (the no-op step draws too)."""
        return len(self.steps) - 1

    # ---- forward process and training targets -------------------------------------------
    def q_sample(self, x0: torch.Tensor, y: torch.Tensor, t: torch.Tensor, noise: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Bridge state x_t and the network's target.

        x_t = (1 - m_t) x0 + m_t y + sqrt(variance_t) noise; target per ``objective``
        ('grad': m_t (y - x0) + sigma_t noise).  All tensors (B, C, H, W) in [-1, 1], t (B,) long.
        """
        m_t = _at(self.m_t, t, x0)
        sigma_t = _at(self.variance_t, t, x0).sqrt()
        x_t = (1.0 - m_t) * x0 + m_t * y + sigma_t * noise
        if self.objective == "grad":
            target = m_t * (y - x0) + sigma_t * noise
        elif self.objective == "noise":
            target = noise
        else:
            target = y - x0
        return x_t, target

    def class_targets(self, x0: torch.Tensor, label_images: torch.Tensor, y: torch.Tensor,
                      t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """The authors' per-class targets used by the inter-class loss (``q_singlestep``).

        For each label image p: m_{t-1} (p - x0) + m_t (y - p) + sigma_t noise, with m_{-1} = 0.
        Returns (B, K, C, H, W).  For p = x0 it equals the 'grad' target exactly.
        """
        m_t = _at(self.m_t, t, x0)
        m_prev = torch.where((t - 1) < 0, torch.zeros((), dtype=x0.dtype, device=x0.device),
                             self.m_t.to(x0.device, x0.dtype)[(t - 1).clamp(min=0)])
        m_prev = m_prev.reshape(-1, *([1] * (x0.dim() - 1)))
        sigma_t = _at(self.variance_t, t, x0).sqrt()
        per_class = [m_prev * (p - x0) + m_t * (y - p) + sigma_t * noise for p in label_images]
        return torch.stack(per_class, dim=1)

    def predict_x0(self, x_t: torch.Tensor, y: torch.Tensor, t: torch.Tensor, objective: torch.Tensor) -> torch.Tensor:
        """Invert the network's output into a prediction of the label image x0."""
        if self.objective == "grad":
            return x_t - objective
        if self.objective == "noise":
            m_t = _at(self.m_t, t, x_t)
            sigma_t = _at(self.variance_t, t, x_t).sqrt()
            return (x_t - m_t * y - sigma_t * objective) / (1.0 - m_t)
        return y - objective

    # ---- reverse process -----------------------------------------------------------------
    def sample(self, denoise_fn: DenoiseFn, y: torch.Tensor, *, generator: torch.Generator | None = None,
               noise: Sequence[torch.Tensor] | None = None, clip_denoised: bool = True,
               return_trajectory: bool = False) -> SampleResult:
        """Run the skip-step sampler from the input ``y`` (t = T) down to a label image (t = 0).

        Args:
            denoise_fn: callable (x_t (B,C,H,W), t (B,) long) -> objective (B,C,H,W).
            y: input images (B, C, H, W) on the [-1, 1] scale.
            generator: source of the sampler's Gaussian draws.  Exactly one of ``generator`` and
                ``noise`` must be given (randomness is explicit, never the global RNG).
            noise: the draws themselves, ``num_noise_draws`` tensors shaped like y.
            clip_denoised: clip every x0 prediction to [-1, 1] (official test setting: True).
            return_trajectory: keep every state and every x0 prediction.

        Gradients flow through every step (the sampler is only a few network calls), so an
        attacker can differentiate the whole classifier.
        """
        if (generator is None) == (noise is None):
            raise InputError("pass exactly one of generator= or noise= (the sampler never uses the global RNG)")
        if noise is not None:
            noise = check_noise(noise, self.num_noise_draws, tuple(y.shape))
        result = SampleResult(x0=y)
        if return_trajectory:
            result.trajectory.append(y)
        x_t = y
        batch = y.shape[0]
        for i, step in enumerate(self.steps):
            t = torch.full((batch,), step, device=y.device, dtype=torch.long)
            x0_pred = self.predict_x0(x_t, y, t, denoise_fn(x_t, t))
            if clip_denoised:
                x0_pred = x0_pred.clamp(-1.0, 1.0)
            if step == 0:
                x_t = x0_pred
            else:
                eps = noise[i] if noise is not None else torch.randn(
                    y.shape, generator=generator, device=generator.device, dtype=y.dtype).to(y.device)
                result.noise.append(eps)
                x_t = self._step(x_t, y, x0_pred, step, self.steps[i + 1], eps)
            if return_trajectory:
                result.trajectory.append(x_t)
                result.x0_predictions.append(x0_pred)
        result.x0 = x_t
        return result

    def _step(self, x_t: torch.Tensor, y: torch.Tensor, x0_pred: torch.Tensor, step: int, next_step: int,
              eps: torch.Tensor) -> torch.Tensor:
        """One posterior step from ``step`` to ``next_step`` (the official p_sample update)."""
        m_t, m_nt = self.m_t[step].item(), self.m_t[next_step].item()
        var_t, var_nt = self.variance_t[step].item(), self.variance_t[next_step].item()
        m_t, m_nt, var_t, var_nt = (torch.tensor(v, dtype=x_t.dtype, device=x_t.device)
                                    for v in (m_t, m_nt, var_t, var_nt))
        sigma2_t = posterior_variance(m_t, m_nt, var_t, var_nt)
        # the no-op step (Q1) makes this 0 up to rounding: +3e-8 in float32, but possibly -1e-17 in
        # float64, whose square root would be NaN.  Clamping changes nothing in float32.
        sigma2_t = sigma2_t.clamp(min=0.0)
        sigma_t = sigma2_t.sqrt() * self.eta
        mean = (1.0 - m_nt) * x0_pred + m_nt * y + ((var_nt - sigma2_t) / var_t).sqrt() * (
            x_t - (1.0 - m_t) * x0_pred - m_t * y)
        return mean + sigma_t * eps


