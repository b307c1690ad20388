"""The head-end's outage logic (a part of ``HeadEnd``): chasing a missing interval with two
polls, declaring an outage, polling meters in outage until they answer, and closing the outage
with the meter's own power-fail / restore record and power event log."""
from __future__ import annotations

import logging

from sumame.firmware.net.dlms.cosem_time import octets_to_epoch
from sumame.firmware.routes.aroute import obis_codes as oc
from sumame.firmware.routes.aroute.event_logs import EVENT_NAMES
from sumame.firmware.core.scheduler import sleep, sleep_until
from sumame.hal.jst import format_jst, next_boundary

from .session import range_access
from .db.values import status_dict, status_text

log = logging.getLogger("sumame.hes")
RESTORE, CHASE = "restore", "chase"


class OutageTracking:
    """Mixed into HeadEnd: uses its store, clock, config, stats, meters, session() and _queue()."""

    async def _checker(self) -> None:
        while True:
            boundary = next_boundary(self.clock.now() - self.config.check_delay_s, 30)
            await sleep_until(boundary + self.config.check_delay_s)
            for m in list(self.meters.values()):
                if not m.ready or m.in_outage or boundary < m.since:
                    continue
                expected = [boundary] if m.grid == 30 else [boundary - 900, boundary]
                if any(not self.store.has_interval(m.id, m.grid, t) for t in expected):
                    self.stats["chases"] += 1
                    self._queue(m, CHASE, self._chase)

    async def _chase(self, m) -> None:
        for attempt in (1, 2):
            try:
                await self._poll_status(m, "missing interval", fetch_rows=True)
                return
            except (OSError, TimeoutError) as exc:
                self.store.add_poll(m.id, self.clock.now(), False, f"missing interval (poll {attempt})",
                                    detail=str(exc))
                if attempt == 1:
                    await sleep(self.config.double_check_s)
        self._open_outage(m, m.last_seen, "missing interval; no answer to 2 polls", "last contact")

    async def _status(self, m, why: str = "no-data interval") -> None:
        try:
            await self._poll_status(m, why, fetch_rows=False)
        except (OSError, TimeoutError) as exc:
            self.store.add_poll(m.id, self.clock.now(), False, why, detail=str(exc))

    async def _poll_status(self, m, why: str, fetch_rows: bool) -> dict:
        async with self.session(m) as s:
            status = status_dict(await s.get(1, oc.SUPPLY_STATUS, 2))
            if fetch_rows:
                await self._read_range(s, m, m.grid, "poll", self.deadline(m))
        now = self.clock.now()
        m.last_seen = now
        self.store.add_poll(m.id, now, True, why, status["state"], status_text(status))
        fail = status["last_power_fail"]
        if fail is not None and (m.last_fail_seen is None or fail > m.last_fail_seen) and fail >= m.since - 1800:
            m.last_fail_seen = fail
            oid = self.store.open_outage(m.id, start_at=fail, detected_at=now, how=f"{why}; meter record",
                                         start_source="meter")
            self.store.close_outage(oid, end_at=status["last_restore"], restored_detected_at=now)
            self.stats["outages"] += 1
        return status

    def _open_outage(self, m, start: float | None, how: str, source: str) -> None:
        if m.in_outage:
            return
        now = self.clock.now()
        m.outage_id = self.store.open_outage(m.id, start_at=start, detected_at=now, how=how, start_source=source)
        m.outage_start_estimate = start
        self.stats["outages"] += 1
        log.info("outage of %s detected at %s (%s)", m.id, format_jst(now), how)

    async def _outage_poller(self) -> None:
        while True:
            await sleep(self.config.outage_poll_s)
            for m in list(self.meters.values()):
                if m.in_outage:
                    self._queue(m, RESTORE, self._restore)

    async def _restore(self, m) -> None:
        while m.in_outage:
            tried_at = self.clock.now()
            try:
                async with self.session(m) as s:
                    status = status_dict(await s.get(1, oc.SUPPLY_STATUS, 2))
                    await self._read_range(s, m, m.grid, "poll", self.deadline(m))
                    start = status["last_power_fail"]
                    events = await s.get(7, oc.POWER_LOG, 2, range_access(start or m.since, self.clock.now()))
                break
            except (OSError, TimeoutError) as exc:
                self.store.add_poll(m.id, self.clock.now(), False, "outage poll", detail=str(exc))
                if m.last_seen is None or m.last_seen < tried_at:
                    return             # still silent; a push meanwhile (it is back) means: try again
        else:
            return
        now = self.clock.now()
        m.last_seen = now
        for row in events.value:
            at, code = octets_to_epoch(row.value[0].value), row.value[1].value
            self.store.put_meter_event(m.id, "power", at, code, EVENT_NAMES.get(code, str(code)))
        self.store.add_poll(m.id, now, True, "outage poll", status["state"], status_text(status))
        plausible = start is not None and (m.outage_start_estimate is None
                                           or start >= m.outage_start_estimate - 86400)
        self.store.close_outage(m.outage_id, end_at=status["last_restore"] if plausible else None,
                                restored_detected_at=now, start_at=start if plausible else None,
                                start_source="meter" if plausible else None)
        m.last_fail_seen = start
        m.outage_id = None
        m.outage_start_estimate = None
        self.stats["restorations"] += 1
        log.info("%s restored; detected at %s", m.id, format_jst(now))
