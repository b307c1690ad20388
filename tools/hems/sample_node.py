"""SampleNode: a B-route ECHONET Lite node over UDP on the real clock, in a background thread.

For benches, tool tests and interop tests: a ``BRouteService`` fed by ``SampleReadings`` on
``address``:3610 (a loopback address such as 127.0.0.2 avoids clashing with a client bound to
3610). Use as a context manager; ``stop()`` returns within ~0.1 s.
"""
from __future__ import annotations

import threading

from sumame.firmware.core.clock import RealClock
from sumame.firmware.core.events import EventLog
from sumame.firmware.routes.broute.guard import GuardOptions
from sumame.firmware.routes.broute.service import BRouteOptions, BRouteService
from sumame.firmware.core.scheduler import Priority, Scheduler, sleep

from .sample_readings import SampleReadings


class SampleNode:
    def __init__(self, address: str = "127.0.0.2", *, kind: str = "lv", port: int = 3610,
                 multicast: bool = False, guard: GuardOptions | None = None,
                 start_epoch: float | None = None, extra_addresses=(), announce: str = "inf"):
        self.clock = RealClock(start_epoch)
        self.events = EventLog(self.clock)
        self.scheduler = Scheduler(self.clock, strict=False)
        self.readings = SampleReadings(self.clock, kind=kind)
        self.service = BRouteService(
            self.readings, self.events, self.scheduler, self.clock,
            BRouteOptions(ip_addresses=(address, *extra_addresses), port=port,
                          multicast=multicast, guard=guard or GuardOptions(), announce=announce,
                          backoff_s=(0.05, 0.2)))
        self._thread: threading.Thread | None = None
        self._running = False

    def start(self) -> "SampleNode":
        self.service.start()

        async def heartbeat():   # lets stop() be noticed while every other task waits
            while self._running:
                await sleep(0.05)

        self._running = True
        self.scheduler.spawn(heartbeat(), name="sample-node-heartbeat", priority=Priority.UI)
        self._thread = threading.Thread(target=self.scheduler.run, name="sample-node", daemon=True)
        self._thread.start()
        return self

    @property
    def endpoints(self):
        return self.service.endpoints

    def stop(self) -> None:
        self._running = False
        self.scheduler.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.service.stop()
        self.scheduler.close()

    def __enter__(self) -> "SampleNode":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
