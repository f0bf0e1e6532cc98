"""The IDC training objective: BBDM's reconstruction loss plus the inter-class term."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from idc_lite.model.bridge import BrownianBridge, DenoiseFn


@dataclass
class LossTerms:
    """``loss`` = ``recloss`` + ``simloss``; ``simloss`` is <= 0 with the official sign."""
    loss: torch.Tensor
    recloss: torch.Tensor
    simloss: torch.Tensor


def idc_loss(bridge: BrownianBridge, denoise_fn: DenoiseFn, x0: torch.Tensor, y: torch.Tensor,
             t: torch.Tensor, noise: torch.Tensor, labels: torch.Tensor, label_images: torch.Tensor,
             cls_loss_weight: float = 0.2, loss_type: str = "l1") -> LossTerms:
    """The authors' ``p_losses``, on the [-1, 1] scale.

    Args:
        x0: (B, C, H, W) label image of each sample's class (t = 0 end).
        y: (B, C, H, W) input images (t = T end).
        t: (B,) long timesteps in [0, T); noise: (B, C, H, W) standard Gaussian.
        labels: (B,) long classes; label_images: (K, C, H, W), all on the [-1, 1] scale.
        cls_loss_weight: weight of the inter-class term (paper: 0.2; 0 switches it off for the
            ablation).  The official sign subtracts ``weight * d`` where ``d`` is the mean
            absolute distance between the network's output and the per-class target of the
            nearest *wrong* class, counted only for samples whose output is nearer to a wrong
            class's target than to its own: minimising the loss pushes those outputs away.
        loss_type: 'l1' (official) or 'l2' (mean squared reconstruction error; the official
            code computes it but then fails, so only 'l1' is faithful).
    """
    if loss_type not in ("l1", "l2"):
        raise ValueError(f"loss_type must be 'l1' or 'l2', got {loss_type!r}")
    x_t, target = bridge.q_sample(x0, y, t, noise)
    output = denoise_fn(x_t, t)
    per_class = bridge.class_targets(x0, label_images, y, t, noise)             # (B, K, C, H, W)
    dist_all = (per_class - output.unsqueeze(1)).abs().mean(dim=(2, 3, 4))       # (B, K)
    dist_own = (target - output).abs().mean(dim=(1, 2, 3))                        # (B,)
    one_hot = F.one_hot(labels, num_classes=label_images.shape[0]).bool()
    nearest_wrong = dist_all.masked_fill(one_hot, float("inf")).min(dim=1).values
    # Official test of "own class is nearest": exact equality with the row minimum.
    own_is_nearest = dist_own == dist_all.min(dim=1).values
    penalty = torch.where(own_is_nearest, torch.zeros_like(nearest_wrong), nearest_wrong)
    simloss = -cls_loss_weight * penalty.mean()
    if loss_type == "l1":
        recloss = (target - output).abs().mean()
    else:
        recloss = F.mse_loss(output, target)
    return LossTerms(loss=recloss + simloss, recloss=recloss, simloss=simloss)


