"""Rates measured fairly on a shared machine: both sides of a comparison run in alternating
rounds and each keeps its best round, so a burst of load from other processes slows one round
of one side, not the whole figure of one side (the ratio then compares like with like)."""
from __future__ import annotations

import time
from typing import Callable

ROUNDS = 5


def best_rates(fns: dict[str, Callable[[], object]], n: int, rounds: int = ROUNDS) -> dict[str, float]:
    """Calls per second of each ``fn`` (``n`` calls per round, best of ``rounds`` rounds run
    alternately). Every ``fn`` is called once first (warm-up, and a check that it runs)."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, float("inf"))
    clock = time.perf_counter
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = clock()
            for _ in range(n):
                fn()
            best[name] = min(best[name], clock() - t0)
    return {name: n / max(elapsed, 1e-9) for name, elapsed in best.items()}
