"""The reuse rule: an artefact (a model, a CNN) is loaded only when it was made with exactly the
settings asked for; otherwise the differences are named, and a file made with other settings is never
replaced or reused silently."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


# ---- no silent reuse ----------------------------------------------------------------------------
def _plain(value):
    """JSON's view of a value (tuples become lists), so stored and asked settings compare alike."""
    return json.loads(json.dumps(value, default=str))


def settings_differences(stored: dict, wanted: dict, ignore: tuple[str, ...] = ()) -> list[str]:
    """Every setting that differs, as ``'name: stored X, asked Y'`` (nested names joined by '.').

    ``ignore`` lists dotted names left out of the comparison."""
    out: list[str] = []

    def walk(a, b, prefix):
        if prefix in ignore:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                walk(a.get(key, "<missing>"), b.get(key, "<missing>"), f"{prefix}.{key}" if prefix else key)
        elif a != b:
            out.append(f"{prefix or 'settings'}: stored {a!r}, asked {b!r}")

    walk(_plain(stored), _plain(wanted), "")
    return out


def settings_digest(settings: dict) -> str:
    """A short, stable name for a set of settings (8 hex digits)."""
    return hashlib.sha256(json.dumps(_plain(settings), sort_keys=True).encode()).hexdigest()[:8]


@dataclass
class Artefact:
    """Where an artefact made with given settings lives: ``path``; ``exists`` when it is already
    there with exactly those settings (load it), else train and save to ``path``; ``note`` says why."""
    path: Path
    exists: bool
    note: str


def artefact_for_settings(path: str | Path, wanted: dict, stored_settings: Callable[[Path], dict]) -> Artefact:
    """The file holding an artefact (a CNN, an ablation model) made with ``wanted`` settings.

    ``path`` itself when it is missing or was made with the same settings; otherwise a file of its own
    beside it named after the settings (``cnn-3f2a9c1e.pt``), so that the file other notebooks read
    is never replaced by one made with other settings, and a file with other settings is never
    reused silently.  ``stored_settings(path) -> dict`` reads the settings a file was made with.
    """
    path = Path(path)
    if not path.exists():
        return Artefact(path, False, f"{path.name}: not there yet, training it")
    differences = settings_differences(stored_settings(path), wanted)
    if not differences:
        return Artefact(path, True, f"{path.name}: made with the same settings, loading it")
    own = path.with_name(f"{path.stem}-{settings_digest(wanted)}{path.suffix}")
    why = "; ".join(differences)
    if own.exists() and not settings_differences(stored_settings(own), wanted):
        return Artefact(own, True, f"{path.name} was made with other settings ({why}); loading {own.name}, "
                                   "made with the asked ones")
    return Artefact(own, False, f"{path.name} was made with other settings ({why}); training into {own.name} "
                                f"and leaving {path.name} as it is")


