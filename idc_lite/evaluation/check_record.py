"""The record every sanity check returns, whichever module runs it."""
from __future__ import annotations


def check_record(check: str, passed: bool | None, criterion: str, **values) -> dict:
    """``{"check", "status", "criterion", "values"}``; status 'passed', 'FAILED' or, for ``passed=None``,
    'measured' (a number reported without a pass mark)."""
    status = "measured" if passed is None else ("passed" if passed else "FAILED")
    return {"check": check, "status": status, "criterion": criterion, "values": values}


def failed_checks(checks: list[dict] | None) -> list[str]:
    """The names of the checks in ``checks`` (records of :func:`check_record`) that FAILED, in order."""
    return [c["check"] for c in checks or [] if c.get("status") == "FAILED"]
