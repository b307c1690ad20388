"""Fleet operations a share at a time (firmware campaigns, key renewals).

``in_waves(hes, meter_ids, job, share=…, poll_s=…, progress=…, done_word=…, label=…)`` runs
``job(meter_id)`` (a coroutine returning ``{"meter", "ok", "detail", …}``) on the head-end's
scheduler for ``share`` of the fleet at once (at least one meter), reports each meter and a
running total through ``progress(meter_or_label, text)``, and returns the results in order.
"""
from __future__ import annotations

import math
from typing import Awaitable, Callable

from sumame.firmware.core.scheduler import sleep


async def in_waves(hes, meter_ids: list[str], job: Callable[[str], Awaitable[dict]], *, share: float,
                   poll_s: float, progress: Callable[[str, str], None], done_word: str, label: str) -> list[dict]:
    wave = max(1, math.ceil(share * len(meter_ids)))
    results: list[dict] = []
    for start in range(0, len(meter_ids), wave):
        batch = meter_ids[start:start + wave]
        tasks = [hes.scheduler.spawn(job(mid), name=f"{label}-{mid}", group="hes") for mid in batch]
        while not all(t.done for t in tasks):
            await sleep(poll_s)
        for mid, task in zip(batch, tasks):
            res = task.result if task.exception is None else {"meter": mid, "ok": False, "detail": str(task.exception)}
            results.append(res)
            progress(mid, done_word if res["ok"] else f"FAILED: {res['detail']}")
        ok = sum(r["ok"] for r in results)
        progress(label, f"{len(results)}/{len(meter_ids)} meters, {ok} {done_word}, {len(results) - ok} failed")
    return results
