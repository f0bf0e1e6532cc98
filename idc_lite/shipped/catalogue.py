"""The catalogue of the reference models shipped inside the package: their files, what each was made with,
and the SHA-256 every file must have (``files/catalogue.json``, written by ``idc-lite results ship RUN``).

This module only finds and checks files; the models are built from them one layer up
(:func:`idc_lite.comparisons.reference_models.load_reference`)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

from idc_lite.foundation.errors import CheckpointError, InputError
from idc_lite.foundation.files import atomic_write_bytes, file_sha256
from idc_lite.foundation.reuse import Artefact, settings_differences
from idc_lite.foundation.runtime import shipped_models_allowed

FILES = Path(__file__).resolve().parent / "files"
CATALOGUE = "catalogue.json"
MAX_TOTAL_BYTES = 15_000_000          # every shipped file together (the package stays small to install)


def catalogue(folder: Path = FILES) -> dict:
    """The catalogue: ``{"source": the run the models come from, "models": {name: record}}``."""
    path = Path(folder) / CATALOGUE
    if not path.is_file():
        raise CheckpointError(f"no reference models in {folder}: the catalogue {CATALOGUE} is missing")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path} is not valid JSON ({err})") from None


def reference_names(folder: Path = FILES) -> list[str]:
    """The names of the shipped models, in the catalogue's order (``"idc"``, ``"cnn"``, ...)."""
    return list(catalogue(folder)["models"])


def reference_record(name: str, folder: Path = FILES) -> dict:
    """One shipped model's record: file, kind, stored dtype, settings, seed, SHA-256, accuracies with intervals."""
    models = catalogue(folder)["models"]
    if name not in models:
        raise InputError(f"no shipped reference model {name!r}; the kit ships {', '.join(models)}")
    return models[name]


def reference_file(name: str, folder: Path = FILES) -> Path:
    """The checked file of shipped model ``name``: raises :class:`CheckpointError` when it is missing or its
    SHA-256 is not the catalogue's (a damaged install, or a file replaced by hand)."""
    record = reference_record(name, folder)
    path = Path(folder) / record["file"]
    if not path.is_file():
        raise CheckpointError(f"the shipped model {name!r} is missing: {path} (reinstall the kit)")
    digest = file_sha256(path)
    if digest != record["sha256"]:
        raise CheckpointError(f"the shipped model {name!r} ({path}) has SHA-256 {digest[:12]}..., its catalogue "
                              f"says {record['sha256'][:12]}...: the file was damaged or replaced (reinstall the kit)")
    return path


def shipped_with_settings(kind: str, wanted: dict, folder: Path = FILES) -> str | None:
    """The name of a shipped model of ``kind`` ("idc", "cnn", "denoiser") made with exactly ``wanted`` settings,
    or None (none is, or ``IDC_LITE_SHIPPED_MODELS=0`` says a run must train its own)."""
    if not shipped_models_allowed() or not (Path(folder) / CATALOGUE).is_file():
        return None
    for name, record in catalogue(folder)["models"].items():
        if record["kind"] == kind and not settings_differences(record["settings"], wanted):
            try:
                reference_file(name, folder)
            except CheckpointError as err:     # a damaged install costs the time of training, never a wrong model
                warnings.warn(f"{err}; training instead", stacklevel=2)
                return None
            return name
    return None


def copy_shipped(name: str, target: Path, folder: Path = FILES) -> str:
    """Copy shipped model ``name``'s checked file to ``target`` (atomically); returns the sentence a notebook prints."""
    source = reference_file(name, folder)
    atomic_write_bytes(target, lambda handle: handle.write(source.read_bytes()))
    commit = (catalogue(folder)["source"].get("commit") or "?")[:10]
    stored = reference_record(name, folder)["stored_dtype"]
    rounded = "" if stored == "float32" else f", its weights stored in {stored}"
    return (f"{Path(target).name}: the kit ships a model made with exactly these settings ({name!r}, trained at commit "
            f"{commit}{rounded}); copied it in instead of training (make reproduce trains its own)")


def artefact_or_shipped(file: Artefact, kind: str, wanted: dict) -> Artefact:
    """``file`` as the reuse rule found it, or, when it is not there yet and a shipped model of ``kind`` was made
    with exactly ``wanted`` settings, that model copied to ``file.path`` (a file ready to load, its note saying so)."""
    shipped = None if file.exists else shipped_with_settings(kind, wanted)
    return Artefact(file.path, True, copy_shipped(shipped, file.path)) if shipped else file
