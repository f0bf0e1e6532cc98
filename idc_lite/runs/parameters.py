"""Checks on what papermill injects into a notebook's ``parameters`` cell."""
from __future__ import annotations

from idc_lite.foundation.errors import ParameterError


# ---- papermill parameters and metrics ------------------------------------------------------------
def check_parameters(namespace: dict, names_before: set[str]) -> dict:
    """Check what papermill injected into a notebook against its ``parameters`` cell.

    ``names_before``: ``set(globals())`` taken just before the parameters cell.  Every public
    name defined since then must be an annotated parameter, and each value must have its
    annotated type.  Returns {name: value}; raises ``ValueError`` naming unknown or mistyped
    parameters and listing the ones the notebook takes.
    """
    annotations = namespace.get("__annotations__", {})
    new = {n for n in namespace if not n.startswith("_") and n not in names_before}
    known = {n for n in new if n in annotations}
    unknown = sorted(new - known)
    allowed = ", ".join(f"{n}: {getattr(annotations[n], '__name__', annotations[n])}" for n in sorted(known))
    if unknown:
        raise ParameterError(f"unknown parameter(s) {unknown}; this notebook takes: {allowed}")
    return {name: check_value(name, namespace[name], annotations[name]) for name in sorted(known)}


PARAMETER_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def check_value(name: str, value, expected):
    """A parameter value against its annotated type (a type, or its name as papermill reports it):
    an int passes for a float, a bool never passes for an int.  Returns the value; raises ParameterError."""
    expected = PARAMETER_TYPES.get(expected, expected) if isinstance(expected, str) else expected
    if not isinstance(expected, type):
        return value          # unannotated or a typing construct: not checked
    ok = isinstance(value, expected)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if expected is int and isinstance(value, bool):
        ok = False
    if not ok:
        raise ParameterError(f"parameter {name} must be {expected.__name__}, got {value!r} ({type(value).__name__})")
    return value


