"""The official AutoAttack (Croce & Hein 2020), from the ``pyautoattack`` package: ``version='rand'``
for random classifiers (APGD-CE and APGD-DLR with EOT) and ``version='standard'`` for deterministic
ones (APGD-CE, APGD-T, FAB-T, Square 5,000), each as one attack of a suite."""
from __future__ import annotations

import logging
import sys

import torch

from idc_lite.evaluation.attacks.core import AttackEntry, LogitModel, attack_inputs
from idc_lite.evaluation.attacks.wrappers import WithGenerator
from idc_lite.foundation.validation import check_choice, check_eps, check_int


def _autoattack(model, x, eps, generator, norm, version):
    """pyautoattack's AutoAttack on ``model`` with noise from ``generator``; it seeds the global RNG
    itself, so callers run it inside ``fork_rng`` to leave theirs alone."""
    try:
        from pyautoattack import AutoAttack
    except ImportError as err:   # pragma: no cover - pinned in requirements.txt
        raise ImportError("AutoAttack needs the package pyautoattack: pip install pyautoattack==0.2.0") from err
    logger = logging.getLogger("auto-attack")
    ours = [h for h in logger.handlers if getattr(h, "idc_lite", False)]
    if not ours:   # show its warnings and progress where the user is looking
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("[AutoAttack] %(levelname)s %(message)s"))
        handler.idc_lite = True
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        ours = [handler]
    ours[0].setStream(sys.stdout)   # today's stdout (a notebook cell's, a captured test's), not the first caller's
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    return AutoAttack(WithGenerator(model, generator), eps=eps, norm=norm, version=version, seed=seed,
                      device=x.device)


def _set_iterations(attack, n_iter: int) -> None:
    """``n_iter`` iterations for one of its APGD attacks, with the checkpoints it computes from them at
    construction (setting ``n_iter`` alone would keep the checkpoints of 100 iterations)."""
    attack.n_iter = attack.n_iter_orig = n_iter
    attack.n_iter_2, attack.n_iter_min = max(int(0.22 * n_iter), 1), max(int(0.06 * n_iter), 1)
    attack.size_decr = max(int(0.03 * n_iter), 1)


def autoattack_rand(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, eps: float,
                    generator: torch.Generator, n_iter: int = 100, eot_iter: int = 20,
                    norm: str = "Linf") -> torch.Tensor:
    """The official AutoAttack's ``version='rand'`` (APGD-CE and APGD-DLR, EOT over ``eot_iter``
    fresh draws, ``n_iter`` iterations), from the ``pyautoattack`` package.

    Its flag checks (randomness, softmax outputs, dynamic defences) are printed, not hidden.
    Other ``n_iter`` / ``eot_iter`` than 100 / 20 make it a *reduced* AutoAttack-rand: report it
    so.  Returns adversarial images (B, C, H, W) in [0, 1]."""
    x, labels = attack_inputs(x, labels, generator)
    eps = check_eps(eps, norm=norm)
    check_int(n_iter, "n_iter", 1)
    check_int(eot_iter, "eot_iter", 1)
    with torch.random.fork_rng(devices=[]):
        attack = _autoattack(model, x, eps, generator, norm, "rand")
        _set_iterations(attack.apgd, n_iter)
        attack.apgd.eot_iter = eot_iter
        adv, _ = attack.run_standard_evaluation(x.detach(), labels, batch_size=x.shape[0])
    return adv.detach()


def autoattack_standard(model: LogitModel, x: torch.Tensor, labels: torch.Tensor, eps: float,
                        generator: torch.Generator, norm: str = "Linf", square_queries: int = 5000,
                        n_iter: int = 100) -> torch.Tensor:
    """The official AutoAttack's ``version='standard'`` for a *deterministic* model (a CNN): APGD-CE,
    APGD-T (9 target classes), FAB-T and Square with ``square_queries`` queries (5,000 in the
    standard version; fewer makes it a reduced AutoAttack, report it so), each only on the examples
    the earlier ones left standing; ``n_iter`` iterations each for APGD and FAB (100 in the standard
    version).  Returns adversarial images (B, C, H, W) in [0, 1]."""
    x, labels = attack_inputs(x, labels, generator)
    eps = check_eps(eps, norm=norm)
    check_choice(norm, "norm", ("Linf", "L2"))
    check_int(square_queries, "square_queries", 1)
    check_int(n_iter, "n_iter", 1)
    with torch.random.fork_rng(devices=[]):
        attack = _autoattack(model, x, eps, generator, norm, "standard")
        attack.square.n_queries, attack.fab.n_iter = square_queries, n_iter
        _set_iterations(attack.apgd, n_iter)
        _set_iterations(attack.apgd_targeted, n_iter)
        num_classes = int(model(x[:1], generator=generator).shape[1])
        # its targeted attacks try 9 target classes; a model with fewer classes has fewer to try
        attack.apgd_targeted.n_target_classes = attack.fab.n_target_classes = min(9, num_classes - 1)
        adv, _ = attack.run_standard_evaluation(x.detach(), labels, batch_size=x.shape[0])
    return adv.detach()


RAND = AttackEntry(
    kind="autoattack_rand", family="white-box",
    summary="AutoAttack version='rand' (Croce & Hein 2020): APGD-CE and APGD-DLR with EOT, official code",
    run=lambda model, x, labels, generator, params, start=None: autoattack_rand(model, x, labels, generator=generator,
                                                                                 **params),
    defaults={"eps": 8 / 255, "norm": "Linf", "n_iter": 100, "eot_iter": 20},
    described={"version": "rand"},
)

STANDARD = AttackEntry(
    kind="autoattack_standard", family="white-box",
    summary="AutoAttack version='standard' (Croce & Hein 2020): APGD-CE, APGD-T, FAB-T, Square 5,000; deterministic "
            "models only",
    run=lambda model, x, labels, generator, params, start=None: autoattack_standard(model, x, labels,
                                                                                     generator=generator, **params),
    defaults={"eps": 8 / 255, "norm": "Linf", "square_queries": 5000, "n_iter": 100},
    described={"version": "standard", "restarts": 1, "eot_samples": 1},
)
