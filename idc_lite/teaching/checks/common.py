"""What every exercise check shares: calling the student's function with a clear failure, and
comparing numbers and tensors with a message that says what differs."""
from __future__ import annotations

import math
from typing import Callable

import torch

from idc_lite.foundation.errors import ExerciseCheckFailed


def fail(exercise: str, message: str):
    raise ExerciseCheckFailed(f"[{exercise}] {message}")


def passed(exercise: str, detail: str) -> str:
    return f"[{exercise}] passed: {detail}"


def call_answer(exercise: str, fn: Callable, *args, **kwargs):
    """Call the student's function, turning 'not answered yet' and crashes into a clear failure."""
    if not callable(fn):
        fail(exercise, f"expected the function the exercise asks for, got {type(fn).__name__}")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        fail(exercise, "not answered yet: the function still raises NotImplementedError")
    except ExerciseCheckFailed:
        raise
    except Exception as err:  # the student's bug, reported as a failed check rather than a crash
        fail(exercise, f"your function raised {type(err).__name__}: {err}")


def as_number(exercise: str, name: str, value) -> float:
    """A finite real number (Python number or one-element tensor); never a bool or None."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            fail(exercise, f"{name} must be a single number, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(exercise, f"{name} must be a number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
        fail(exercise, f"{name} must be finite, got {value}")
    return float(value)


def as_tensor(exercise: str, name: str, value, shape) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        fail(exercise, f"{name} must be a torch.Tensor of shape {tuple(shape)}, got {type(value).__name__}")
    if tuple(value.shape) != tuple(shape):
        fail(exercise, f"{name} must have shape {tuple(shape)}, got {tuple(value.shape)}")
    if not bool(torch.isfinite(value).all()):
        fail(exercise, f"{name} contains NaN or infinite values")
    return value.detach().cpu().double()


def close(a: torch.Tensor, b: torch.Tensor, atol: float) -> bool:
    return bool(torch.allclose(a.double(), b.detach().cpu().double(), atol=atol, rtol=0.0))


def diagnose(exercise: str, answer: torch.Tensor, known_mistakes: list[tuple[torch.Tensor, str]], atol: float,
              default: str):
    for wrong, hint in known_mistakes:
        if close(answer, wrong, atol):
            fail(exercise, hint)
    fail(exercise, default)


