"""Attacks on any model mapping images in [0, 1] to logits, one module each, registered by kind.

Every attack takes ``model(x, generator=g) -> logits (B, K)`` and draws all its randomness
(random starts, square positions, and, through the model, the sampler's noise) from an explicit
``torch.Generator``.  A random classifier therefore sees fresh noise at every query, and
``eot_samples`` averages the gradient over that many fresh draws (EOT).

Teaching core (notebook 04): :func:`pgd_linf`.  The suite: :func:`fgsm`, :func:`pgd`, :func:`apgd`
(APGD with EOT), :func:`mi_fgsm`, :func:`cw_l2`, :func:`square_linf`, :func:`other_class_start`, the
official AutoAttack (:func:`autoattack_rand`, :func:`autoattack_standard`) and any torchattacks
attack; the wrappers :class:`FixedNoise` (same noise at every query), :class:`BPDA` (identity backward
through the sampler) and :class:`FirstStepSurrogate`.  :mod:`.registry` holds them by kind.
"""
from idc_lite.evaluation.attacks.apgd import APGDSettings, apgd
from idc_lite.evaluation.attacks.autoattack import autoattack_rand, autoattack_standard
from idc_lite.evaluation.attacks.core import (
    AttackEntry,
    LogitModel,
    attack_loss,
    dlr,
    loss_and_grad,
    margin,
    project,
    random_start,
)
from idc_lite.evaluation.attacks.cw import cw_l2
from idc_lite.evaluation.attacks.fgsm import fgsm
from idc_lite.evaluation.attacks.mi_fgsm import mi_fgsm
from idc_lite.evaluation.attacks.other_class import other_class_start
from idc_lite.evaluation.attacks.pgd import PGDSettings, pgd, pgd_linf
from idc_lite.evaluation.attacks.registry import attack_entry, attack_kinds, register_attack, unregister_attack
from idc_lite.evaluation.attacks.square import square_linf
from idc_lite.evaluation.attacks.wrappers import BPDA, CountingModel, FirstStepSurrogate, FixedNoise

__all__ = ["APGDSettings", "AttackEntry", "BPDA", "CountingModel", "FirstStepSurrogate", "FixedNoise", "LogitModel",
           "PGDSettings", "apgd", "attack_entry", "attack_kinds", "attack_loss", "autoattack_rand",
           "autoattack_standard", "cw_l2", "dlr", "fgsm", "loss_and_grad", "margin", "mi_fgsm", "other_class_start",
           "pgd", "pgd_linf", "project", "random_start", "register_attack", "square_linf", "unregister_attack"]
