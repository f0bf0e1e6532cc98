"""Any attack of the torchattacks library, by class name (the paper protocol's APGD and CW)."""
from __future__ import annotations

import torch

from idc_lite.evaluation.attacks.core import AttackEntry
from idc_lite.foundation.errors import InputError


def torchattacks_attack(model, x: torch.Tensor, labels: torch.Tensor, generator: torch.Generator,
                        params: dict) -> torch.Tensor:
    """The torchattacks attack ``params['attack']`` with the rest of ``params`` as its arguments, on
    ``model(x)``.  It draws from the global RNG, so it runs inside ``fork_rng`` seeded from
    ``generator``: reproducible, and the caller's global RNG is left alone."""
    import torchattacks

    p = dict(params)
    cls = getattr(torchattacks, p.pop("attack"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        return cls(model, **p)(x, labels).detach()


def _check(params: dict) -> None:
    import torchattacks

    name = params.get("attack")
    if not isinstance(name, str) or not hasattr(torchattacks, name):
        raise InputError(f"a 'torchattacks' attack needs attack=<a torchattacks class name>, got {name!r}")


ATTACK = AttackEntry(
    kind="torchattacks", family="white-box", open_params=True, check=_check,
    summary="an attack of the torchattacks library by class name (the paper protocol's APGD, CW)",
    run=lambda model, x, labels, generator, params, start=None: torchattacks_attack(model, x, labels, generator, params),
    defaults={"attack": None},
    complete=lambda p: {"norm": "L2" if p.get("attack") == "CW" else "Linf", "restarts": 1, "eot_samples": 1,
                        "loss": "ce", **p},
)
