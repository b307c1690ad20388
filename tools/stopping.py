"""Stopping a long-running command cleanly: SIGINT (Ctrl-C) and SIGTERM ask its loop to stop.

A signal handler that raises (Python's default KeyboardInterrupt) can land between any two
bytecodes: between a datagram leaving a socket and its being counted, half way through storing
a push. ``StopOnSignal(scheduler.stop)`` only sets the scheduler's stop flag, so the loop ends
between two task steps and everything after it (final counters, draining, closing) runs on a
consistent state.
"""
from __future__ import annotations

import os
import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal:
    """``with StopOnSignal(stop):`` SIGINT / SIGTERM call ``stop()`` (nothing is raised in the
    middle of a step); a second signal exits at once (status 130)."""

    def __init__(self, stop):
        self.stop, self.signals, self._old = stop, 0, {}

    def _handle(self, signum, frame) -> None:
        self.signals += 1
        if self.signals > 1:
            os._exit(130)
        self.stop()

    def __enter__(self) -> "StopOnSignal":
        for sig in STOP_SIGNALS:
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
