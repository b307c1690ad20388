"""A meter running in real time in a background thread (benches, interop and HIL tests).

``MeterThread(board, overrides=..., ratio=1.0, state_dir=None).start()`` boots the board's meter
on a RealClock and serves its routes on real sockets; ``call(fn)`` runs ``fn(runtime)`` between
scheduler steps (thread-safe reads of the meter); ``stop()`` shuts it down in order.
"""
from __future__ import annotations

import queue
import threading
import time

from sumame.firmware.core.scheduler import Priority, sleep

from .runtime import Runtime, build_runtime, open_board


class MeterThread:
    def __init__(self, board: str = "emulated-lv", *, overrides: dict | None = None,
                 ratio: float = 1.0, state_dir=None, profile: str | None = None,
                 start_epoch: float | None = None, setup=None):
        """``setup(runtime)`` runs before the meter boots (attach emulated peripherals)."""
        self._args = dict(board=open_board(board, overrides), ratio=ratio, state_dir=state_dir,
                          profile=profile, start_epoch=start_epoch)
        self._setup = setup
        self.runtime: Runtime | None = None
        self._calls: queue.Queue = queue.Queue()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="sumame-meter", daemon=True)
        self._running = False

    def start(self, timeout: float = 30.0) -> "MeterThread":
        self._running = True
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("meter did not come up")
        if self._error is not None:
            raise self._error
        return self

    def _main(self) -> None:
        try:
            rt = build_runtime(virtual=False, strict=False, boot=False, **self._args)
            if self._setup is not None:
                self._setup(rt)
            rt.boot()
            comms = rt.meter.switchgear.comms
            while len(comms.results) < len(rt.built.hardware.comms):
                rt.scheduler.run(until=rt.clock.now() + 0.05)
            self.runtime = rt
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()

        async def servant():  # runs requests from other threads between task steps
            while self._running:
                while not self._calls.empty():
                    fn, box = self._calls.get_nowait()
                    try:
                        box.put((True, fn(rt)))
                    except BaseException as exc:  # noqa: BLE001
                        box.put((False, exc))
                await sleep(0.02 * rt.clock.ratio)

        rt.scheduler.spawn(servant(), name="meter-thread", priority=Priority.UI, group="tools")
        rt.scheduler.run()

    def call(self, fn, timeout: float = 10.0):
        """Run ``fn(runtime)`` in the meter's thread and return its result."""
        box: queue.Queue = queue.Queue()
        self._calls.put((fn, box))
        ok, value = box.get(timeout=timeout)
        if not ok:
            raise value
        return value

    def wait_for(self, predicate, timeout: float = 20.0, what: str = "condition"):
        """Poll ``predicate(runtime)`` in the meter's thread until it is truthy."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.call(predicate)
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"meter: {what} did not happen within {timeout:g} s")

    def wait_for_event(self, kind: str, timeout: float = 20.0):
        return self.wait_for(lambda rt: rt.meter.events.of_kind(kind), timeout, f"event {kind}")

    @property
    def endpoints(self) -> list[tuple[str, str]]:
        return self.call(lambda rt: list(rt.meter.endpoints))

    def stop(self) -> None:
        if self.runtime is None:
            return
        self._running = False
        self.runtime.scheduler.stop()
        self._thread.join(timeout=10)
        self.runtime.meter.shutdown()
        self.runtime.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def record_history(board, state_dir, *, start_epoch: float, hours: float, overrides: dict | None = None,
                   poll_interval_s: float = 60.0) -> float:
    """Run the board's meter in virtual time for ``hours`` into the flash image in ``state_dir``
    (so a real-time meter started there has history); returns the epoch it stopped at."""
    rt = build_runtime(open_board(board, overrides) if isinstance(board, str) else board, virtual=True,
                       start_epoch=start_epoch, state_dir=state_dir, poll_interval_s=poll_interval_s)
    end = start_epoch + hours * 3600
    rt.scheduler.run(until=end)
    rt.meter.shutdown()
    rt.close()
    return end
