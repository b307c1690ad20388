"""Measure work, not wall time: count the Python function calls a piece of code makes and stop
it once it exceeds a budget (so a test of an exponential decoder fails in milliseconds on the
broken code instead of hanging for a minute, and passes or fails the same on any machine)."""
from __future__ import annotations

import sys


class WorkExceeded(AssertionError):
    """The code under test made more calls than it was allowed."""


def call_budget(fn, max_calls: int):
    """Run ``fn()`` counting Python-level calls; raise WorkExceeded after ``max_calls``.
    Returns (result or raised exception, calls made)."""
    calls = 0

    def profile(frame, event, arg):
        nonlocal calls
        if event == "call":
            calls += 1
            if calls > max_calls:
                sys.setprofile(None)
                raise WorkExceeded(f"more than {max_calls} calls (still running {frame.f_code.co_name})")

    sys.setprofile(profile)
    try:
        result = fn()
    except WorkExceeded:
        raise
    except Exception as exc:  # noqa: BLE001 - the caller checks the error
        result = exc
    finally:
        sys.setprofile(None)
    return result, calls
