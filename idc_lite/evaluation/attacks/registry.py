"""The attacks a suite can name, in one table: ``kind`` -> :class:`~idc_lite.evaluation.attacks.core.AttackEntry`.

The suites (:mod:`idc_lite.evaluation.suites`) name attacks by kind, the protocol
(:mod:`idc_lite.evaluation.protocol`) runs whatever the table holds, and each spec records the
entry's settings with their defaults.  Adding an attack is one module defining an ``AttackEntry`` and
one line below (or :func:`register_attack` from your own module); see the docs' contributing page.
"""
from __future__ import annotations

from idc_lite.evaluation.attacks.apgd import ATTACK as APGD
from idc_lite.evaluation.attacks.autoattack import RAND as AUTOATTACK_RAND
from idc_lite.evaluation.attacks.autoattack import STANDARD as AUTOATTACK_STANDARD
from idc_lite.evaluation.attacks.core import AttackEntry
from idc_lite.evaluation.attacks.cw import ATTACK as CW_L2
from idc_lite.evaluation.attacks.fgsm import ATTACK as FGSM
from idc_lite.evaluation.attacks.library import ATTACK as TORCHATTACKS
from idc_lite.evaluation.attacks.mi_fgsm import ATTACK as MI_FGSM
from idc_lite.evaluation.attacks.other_class import ATTACK as OTHER_CLASS
from idc_lite.evaluation.attacks.pgd import ATTACK as PGD
from idc_lite.evaluation.attacks.square import ATTACK as SQUARE
from idc_lite.foundation.errors import InputError

_REGISTRY: dict[str, AttackEntry] = {}


def register_attack(entry: AttackEntry, replace: bool = False) -> AttackEntry:
    """Add ``entry`` under ``entry.kind``; a kind already taken is refused unless ``replace``."""
    if not isinstance(entry, AttackEntry):
        raise InputError(f"register_attack takes an AttackEntry, got {type(entry).__name__}")
    if entry.kind in _REGISTRY and not replace:
        raise InputError(f"an attack of kind {entry.kind!r} is registered already (replace=True to replace it)")
    _REGISTRY[entry.kind] = entry
    return entry


def unregister_attack(kind: str) -> None:
    """Remove ``kind`` (for tests and notebooks that register an attack of their own)."""
    _REGISTRY.pop(kind, None)


def attack_entry(kind: str) -> AttackEntry:
    """The registered entry of ``kind``; an unknown kind is an InputError naming the known ones."""
    if kind not in _REGISTRY:
        raise InputError(f"attack kind must be one of {attack_kinds()}, got {kind!r}")
    return _REGISTRY[kind]


def attack_kinds() -> tuple[str, ...]:
    """Every registered kind, in registration order."""
    return tuple(_REGISTRY)


# the table: one line per attack
for _entry in (FGSM, PGD, APGD, MI_FGSM, CW_L2, SQUARE, OTHER_CLASS, TORCHATTACKS, AUTOATTACK_RAND, AUTOATTACK_STANDARD):
    register_attack(_entry)
