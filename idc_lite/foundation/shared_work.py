"""Work shared between the gradings of one class: a heavy library call whose inputs are the same for every
student (the same model, examples, seeds and settings) runs once, and the other students' gradings load its result.

Off unless ``$IDC_LITE_SHARED_WORK`` names a folder.  The class grader sets it for its students (a folder of its
own, emptied before and after), so a notebook run anywhere else computes everything itself.  A call is shared only
when every argument has a fingerprint: tensors (dtype, shape, values), modules (each submodule's class, parameters,
buffers and plain attributes), generators (their state), dataclasses, the kit's own objects and functions,
containers and plain values.  Anything else (a student's function, a lambda, an object from another package) makes
the call run as usual.  A call that draws from torch's global generator is never shared: that generator starts from
a different seed in every process, so such a call has no one result to share.

What a shared call leaves behind comes back with its result: the state of each generator among its arguments and the
dicts it fills in (``fills``).  So a loaded result is the one a fresh call would return, bit for bit, on the same
number of threads (every worker of one class grading has the same).  The files are
pickles written by the grading's own processes; a student's code runs in those processes anyway.
"""
from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import inspect
import os
import pickle
import shutil
from pathlib import Path

import torch

from idc_lite.foundation.errors import NoFingerprint
from idc_lite.foundation.files import atomic_write_bytes

SHARED_WORK_ENV = "IDC_LITE_SHARED_WORK"
TRUSTED_MODULES = ("idc_lite", "torch")      # functions and objects from here have a stable meaning by name
_MODULE_INTERNALS = {"_parameters", "_buffers", "_modules"}     # fingerprinted as the parameters and buffers
_computing = [0]      # shareable calls under way in this process: one inside another runs as it is (the outer is shared)


def shared_work_folder() -> Path | None:
    """The folder named by ``$IDC_LITE_SHARED_WORK``, or None when sharing is off."""
    value = os.environ.get(SHARED_WORK_ENV, "").strip()
    return Path(value) if value else None


class _Fingerprint:
    """A SHA-256 of a call's arguments, and the generators met on the way (their order is part of the digest)."""

    def __init__(self):
        self.hash, self.generators, self._seen = hashlib.sha256(), [], set()

    def text(self, *parts) -> None:
        self.hash.update(repr(parts).encode() + b"\x00")

    def feed(self, value) -> None:
        if value is None or isinstance(value, (bool, int, float, complex, str, bytes, torch.dtype, torch.device)):
            return self.text(type(value).__name__, value)
        if isinstance(value, enum.Enum):
            return self.text("enum", type(value).__qualname__, value.name)
        if isinstance(value, torch.Tensor):
            return self._tensor(value)
        if isinstance(value, torch.Generator):
            self.generators.append(value)
            return self._tensor(value.get_state(), "generator")
        if isinstance(value, (list, tuple)):
            self.text(type(value).__name__, len(value))
            for item in value:
                self.feed(item)
            return
        if isinstance(value, dict):
            self.text("dict", len(value))
            for key, item in value.items():
                self.feed(key)
                self.feed(item)
            return
        if isinstance(value, (set, frozenset)):
            if not all(_plain(v) for v in value):
                raise NoFingerprint(f"a {type(value).__name__} of other than plain values")
            return self.text(type(value).__name__, sorted(repr(v) for v in value))
        if isinstance(value, functools.partial):
            self.text("partial")
            return self.feed((value.func, value.args, value.keywords))
        if inspect.ismethod(value):              # a bound method: its function and the object it is bound to
            self.text("method", _trusted_name(value.__func__))
            return self.feed(value.__self__)
        if inspect.isroutine(value) or inspect.isclass(value):
            return self.text("function", _trusted_name(value))
        return self._object(value)

    def _tensor(self, value: torch.Tensor, kind: str = "tensor") -> None:
        t = value.detach().to("cpu").contiguous()
        self.text(kind, str(t.dtype), tuple(t.shape), value.requires_grad, value.device.type)
        self.hash.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")

    def _object(self, value) -> None:
        if id(value) in self._seen:          # a module met again (a shared submodule, a twin's weights): its name is enough
            return self.text("seen", type(value).__qualname__)
        kind = type(value)
        _trusted_name(kind)
        self._seen.add(id(value))
        if dataclasses.is_dataclass(value):
            self.text("dataclass", kind.__module__, kind.__qualname__)
            return self.feed({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
        self.text("object", kind.__module__, kind.__qualname__)
        if isinstance(value, torch.nn.Module):
            self.feed(dict(value._parameters))
            self.feed(dict(value._buffers))
            self.feed(dict(value._modules))
        try:
            attributes = sorted(vars(value).items())
        except TypeError as err:             # no __dict__ (slots, a C type): nothing to name it by
            raise NoFingerprint(kind.__qualname__) from err
        for key, item in attributes:
            if key in _MODULE_INTERNALS:
                continue
            if "hook" in key and isinstance(value, torch.nn.Module):
                if item:                     # a registered hook could change what the module computes
                    raise NoFingerprint(f"{kind.__qualname__} has {key}")
                continue
            self.feed(key)
            self.feed(item)


def _plain(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, bytes))


def _trusted_name(value) -> str:
    module, name = getattr(value, "__module__", None) or "", getattr(value, "__qualname__", "")
    if module.split(".")[0] not in TRUSTED_MODULES or "<" in name:      # <locals>, <lambda>: no stable name
        raise NoFingerprint(f"{module}.{name}")
    return f"{module}.{name}"


def shareable(function=None, *, fills: tuple[str, ...] = ()):
    """Decorate a heavy, deterministic library function so that a class grading runs each distinct call once (see the
    module docstring).  ``fills``: names of dict arguments the function fills in; their content comes back too."""
    if function is None:
        return functools.partial(shareable, fills=fills)
    signature = inspect.signature(function)
    name = f"{function.__module__}.{function.__qualname__}"

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        folder = shared_work_folder()
        if folder is None or _computing[0]:
            return function(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        fingerprint = _Fingerprint()
        try:
            fingerprint.text(name)
            fingerprint.feed(dict(bound.arguments))
        except NoFingerprint:
            return function(*args, **kwargs)
        path = folder / f"{function.__qualname__}-{fingerprint.hash.hexdigest()[:32]}.pkl"
        filled = {key: bound.arguments[key] for key in fills}
        if path.is_file():
            with open(path, "rb") as handle:
                saved = pickle.load(handle)
            for generator, state in zip(fingerprint.generators, saved["generators"]):
                generator.set_state(state)
            for key, content in saved["fills"].items():
                filled[key].clear()
                filled[key].update(content)
            return saved["result"]
        global_state = torch.get_rng_state()
        _computing[0] += 1
        try:
            result = function(*args, **kwargs)
        finally:
            _computing[0] -= 1
        if not torch.equal(global_state, torch.get_rng_state()):
            return result                    # it drew from the global generator: no result that another process would get
        saved = {"result": result, "generators": [g.get_state() for g in fingerprint.generators],
                 "fills": {key: dict(d) for key, d in filled.items() if isinstance(d, dict)}}
        try:
            data = pickle.dumps(saved, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError):
            return result                    # a result that cannot be written is simply not shared
        atomic_write_bytes(path, lambda handle: handle.write(data))
        return result

    return wrapper


VERSION_FILE = "KIT_VERSION"      # in a kept folder: the kit version whose calls it holds


def kit_version() -> str:
    """A digest of the kit's own sources and torch's version: what a kept folder's calls were made with."""
    digest = hashlib.sha256(torch.__version__.encode())
    package = Path(__file__).resolve().parents[1]
    for source in sorted(package.rglob("*.py")):
        digest.update(str(source.relative_to(package)).encode() + b"\x00" + source.read_bytes())
    return digest.hexdigest()


def open_folder(folder: Path, keep: bool = False) -> int:
    """Ready ``folder`` for a grading's shared calls; returns how many earlier calls it will load.

    Emptied, unless ``keep`` and its calls were made by this very kit version (:func:`kit_version`): then a grading
    stopped part way and started again loads what it made (a long full-settings grading loses nothing)."""
    folder = Path(folder)
    stamp = folder / VERSION_FILE
    if not (keep and stamp.is_file() and stamp.read_text().strip() == kit_version()):
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    stamp.write_text(kit_version() + "\n")
    return len(list(folder.glob("*.pkl")))
