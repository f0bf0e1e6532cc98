"""File I/O at the bottom of the kit: atomic writes (a crash never leaves half a file), content
hashes, reading torch files without running pickled code, and the library versions a record stores."""
from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import torch

from idc_lite.foundation.errors import CheckpointError


def _file_mode() -> int:
    """The mode a new file gets under the current umask (mkstemp alone gives 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: str | Path, write) -> Path:
    """Call ``write(file_object)`` on a temporary file beside ``path``, fsync, then rename over ``path``.

    A crash or error mid-write leaves any previous ``path`` untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a folder")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` atomically."""
    atomic_save_hashed(obj, path)
    return Path(path)


def atomic_save_hashed(obj: Any, path: str | Path) -> str:
    """``torch.save`` atomically; returns the SHA-256 of the bytes written (for the JSON record)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getvalue()
    atomic_write_bytes(path, lambda handle: handle.write(data))
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_json(data: Any, path: str | Path) -> Path:
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    return atomic_write_bytes(path, lambda handle: handle.write(text.encode()))


def read_torch_file(path: str | Path) -> Any:
    """``torch.load(weights_only=True)`` with errors that say what is wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}" + (" (it is a folder)" if path.is_dir() else ""))
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): an interrupted copy? Take it again from its source")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt zip, truncated file, or a pickle that needs code
        first_line = (str(err).splitlines() or [""])[0][:300]
        raise CheckpointError(f"cannot read checkpoint {path}: {type(err).__name__}: {first_line} "
                              "(the file may be truncated or corrupt, or contain Python objects other than "
                              "tensors and plain values, which are refused for safety)") from err


def library_versions() -> dict[str, str]:
    import numpy

    versions = {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__}
    try:
        import torchvision
        versions["torchvision"] = torchvision.__version__
    except ImportError:  # pragma: no cover - torchvision is a dependency, but the core does not need it
        pass
    try:
        from importlib.metadata import version
        versions["idc_lite"] = version("idc_lite")
    except Exception:
        pass
    return versions


def read_notebook(path: str | Path):
    """``path`` as an nbformat-4 notebook node (``nbformat.read(path, as_version=4)``).

    nbformat is imported here, on first use, and nowhere at a module's top: its schema checker is slow to import,
    and every kernel that imports the kit would pay for it.  Raises what nbformat raises for a file that is not a
    notebook."""
    import nbformat

    return nbformat.read(path, as_version=4)


def write_notebook(notebook, path: str | Path) -> Path:
    """Write an nbformat notebook node to ``path`` atomically (see :func:`read_notebook` on the late import)."""
    import nbformat

    text = nbformat.writes(notebook).rstrip("\n") + "\n"      # one final newline, as nbformat.write leaves it
    return atomic_write_bytes(path, lambda handle: handle.write(text.encode()))
