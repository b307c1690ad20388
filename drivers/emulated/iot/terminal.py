"""Emulated gas and water meter terminals (無線端末) on the Enhanced HAN.

Each terminal is a sleep device with its own clock (offset + drift, corrected by the meter's
TIME answers), a radio battery account (``EhanNode.energy``), an hourly sampler over a seeded
flow profile, a ring store of ``retention_days`` (≥ 7) of hourly cumulative values, a daily
upload of yesterday's 24 values (``upload_at_s`` after local midnight, JST), and a POLL every
``poll_interval_s`` that fetches downlink (valve commands, gap-fill history requests).

* gas (a マイコンメーター behind it): shuts off on a leak or an earthquake (``shut_off``), keeps
  the last 3 shut-off reasons, valve open/close by sealed company command (refused while a
  leak shut-off needs a site visit), alarms sent at once and repeated until acknowledged;
* water: flags an hourly value as abnormal above ``abnormal_litres_h`` (E3 of 0x0281) and
  alarms once per abnormal episode.

Volumes are litres (0.001 m³), times epoch s. Messages: ``sumame.firmware.routes.iot.codec``
(our own application layer).
"""
from __future__ import annotations

import math
import random
from collections import Counter, deque
from dataclasses import dataclass

from sumame.firmware.routes.iot import codec as c

from .node import EhanNode

HOUR, DAY = 3600, 86400
LOST_AFTER_S = 1000.0
"""No message from the meter for this long (it answers at least every 300 s): rejoin."""
JST = 9 * HOUR
COMMAND_TTL_S = 3600.0
"""A sealed command issued more than this far from the terminal's (meter-synchronised) clock is
refused as expired: the counter stops replays, this stops a command held back on the path."""


@dataclass
class TerminalSpec:
    terminal_id: str
    kind: str                       # "gas" | "water"
    mac: bytes
    psk: bytes
    cmd_key: bytes
    meter_id: bytes = b"\x00" * 6
    seed: int = 1
    clock_offset_s: float = 0.0
    drift_ppm: float = 0.0
    poll_interval_s: float = 60.0
    listen_s: float = 0.25
    upload_at_s: float = 1800.0
    retention_days: int = 10
    abnormal_litres_h: int = 400

    @property
    def tid(self) -> bytes:
        return self.terminal_id.encode("ascii")[:8].ljust(8, b" ")


class Terminal:
    def __init__(self, spec: TerminalSpec, air, timeline, *, channel: int, max_hops: int = 2,
                 random_bytes=None):
        self.spec, self.timeline = spec, timeline
        self.kind = c.KIND_GAS if spec.kind == "gas" else c.KIND_WATER
        kw = {} if random_bytes is None else {"random_bytes": random_bytes}
        self.node = EhanNode(air, timeline, spec.mac, terminal_id=spec.tid, psk=spec.psk, channel=channel,
                             role="sleep", max_hops=max_hops, **kw)
        self.node.on_app, self.node.on_joined, self.node.on_lost = self._on_app, self._on_joined, self._on_lost
        self.rng = random.Random(spec.seed)
        self.t0 = timeline.now()
        self.offset = spec.clock_offset_s
        self.store: dict[int, tuple[int, int]] = {}
        self.litres = self.rng.randrange(100_000, 900_000)
        self.valve_open = True
        self.shutoff_reasons: deque = deque(maxlen=3)
        self.leak_lock = False
        self.abnormal = False
        self._extra = 0
        self.last_counter = 0
        self.pending: dict[int, list] = {}          # msg_id -> [payload, tries, what]
        self.msg_id = 0
        self.heard_at = timeline.now()
        self.backoff_s = 30.0
        self.stats: Counter[str] = Counter()
        self.alarms_raised: list[tuple[int, float]] = []    # (code, real time raised)
        self.log: list[tuple[float, str]] = []
        self._poll_timer = None
        self._sleep_timer = None
        self.running = False

    # ---------------------------------------------------------------- clock
    def local_now(self) -> float:
        now = self.timeline.now()
        return now + self.offset + (now - self.t0) * self.spec.drift_ppm * 1e-6

    def _at_local(self, local_epoch: float, fn, *args):
        delay = local_epoch - self.local_now()
        return self.timeline.call_later(max(0.0, delay), fn, *args)

    # ---------------------------------------------------------------- life
    def start(self) -> None:
        self.running = True
        self.node.join()
        self._schedule_hour()
        self._schedule_upload()

    def _on_joined(self, hops: int) -> None:
        self.backoff_s = 30.0
        self.heard_at = self.timeline.now()
        self._send(c.HELLO, c.Hello(self.kind, self.spec.meter_id, int(self.local_now())).encode(), keep=False)
        self._listen()
        self._schedule_poll(self.rng.uniform(1.0, self.spec.poll_interval_s))

    def _on_lost(self) -> None:
        self.stats["lost"] += 1
        if self._poll_timer is not None:
            self._poll_timer.cancel()
            self._poll_timer = None
        self.timeline.call_later(self.backoff_s * self.rng.uniform(0.8, 1.2), self._rejoin)
        self.backoff_s = min(300.0, self.backoff_s * 2)
        self.node.sleep()

    def _rejoin(self) -> None:
        if not self.node.joined and self.node.state in ("idle",):
            self.node.join()

    # ---------------------------------------------------------------- sampling
    def _flow(self, hour_local: int) -> int:
        """Litres used in the hour ending at ``hour_local`` (seeded diurnal profile)."""
        h = ((hour_local + JST) // HOUR) % 24
        if self.kind == c.KIND_GAS:
            base = 40 + 160 * max(0.0, math.sin((h - 5) / 24 * 2 * math.pi * 2)) + (120 if 18 <= h <= 21 else 0)
        else:
            base = 10 + (90 if 6 <= h <= 8 or 19 <= h <= 22 else 5)
        return max(0, int(self.rng.gauss(base, base * 0.25)))

    def _schedule_hour(self) -> None:
        nxt = (int(self.local_now()) // HOUR + 1) * HOUR
        self._at_local(nxt + 0.5, self._sample, nxt)

    def _sample(self, hour: int) -> None:
        if not self.running:
            return
        used = (self._flow(hour) if self.valve_open or self.kind == c.KIND_WATER else 0) + self._extra
        self._extra = 0
        flags = 0
        if self.kind == c.KIND_WATER and used > self.spec.abnormal_litres_h:
            flags |= c.FLAG_ABNORMAL
            if not self.abnormal:
                self.raise_alarm(c.ALARM_ABNORMAL_FLOW)
            self.abnormal = True
        elif self.kind == c.KIND_WATER:
            self.abnormal = False
        if self.kind == c.KIND_GAS and not self.valve_open:
            flags |= c.FLAG_VALVE_CLOSED
        self.litres += used
        self.store[hour] = (self.litres % 1_000_000_000, flags)
        for old in [k for k in self.store if k < hour - self.spec.retention_days * DAY]:
            del self.store[old]
        self._schedule_hour()

    def inject_flow(self, litres: int) -> None:
        """An extra draw of ``litres`` in the current hour (a burst pipe: the water abnormal flag)."""
        self._extra += litres

    # ---------------------------------------------------------------- daily upload
    def _schedule_upload(self) -> None:
        local = self.local_now()
        midnight = (int(local + JST) // DAY) * DAY - JST
        at = midnight + self.spec.upload_at_s
        if at <= local:
            at += DAY
        self._at_local(at, self._upload, int(at - self.spec.upload_at_s))      # the midnight of the upload day

    def _upload(self, midnight: int) -> None:
        if not self.running:
            return
        self.send_history(midnight - DAY + HOUR, midnight, keep=True)
        self._schedule_upload()

    def send_history(self, first: int, last: int, *, keep: bool) -> int:
        """VALUES messages for the stored hours in [first, last]; returns how many values."""
        hours = [h for h in range(first - first % HOUR, last + 1, HOUR) if h in self.store]
        n = 0
        run: list[int] = []
        for h in hours + [None]:
            if h is not None and (not run or (h == run[-1] + HOUR and len(run) < 24)):
                run.append(h)
                continue
            if run:
                vals = tuple(self.store[x] for x in run)
                self._send(c.VALUES, c.Values(self.kind, run[0], vals).encode(), keep=keep, what="values")
                n += len(run)
            run = [h] if h is not None else []
        return n

    # ---------------------------------------------------------------- gas events
    def shut_off(self, reason: int) -> None:
        """The gas meter shuts its valve (ALARM_LEAK / ALARM_EARTHQUAKE) and the terminal alarms."""
        self.valve_open = False
        self.shutoff_reasons.append(reason)
        if reason == c.ALARM_LEAK:
            self.leak_lock = True
        self.raise_alarm(reason)

    def raise_alarm(self, code: int) -> None:
        self.alarms_raised.append((code, self.timeline.now()))
        self.log.append((self.timeline.now(), f"alarm {c.ALARM_NAMES[code]}"))
        self._send(c.ALARM, c.Alarm(code, int(self.local_now()), self.shutoff_reasons[-1] if self.shutoff_reasons else 0)
                   .encode(), keep=True, what="alarm")
        self._listen()

    # ---------------------------------------------------------------- radio exchange
    def _send(self, msg_type: int, body: bytes, *, keep: bool, what: str = "") -> None:
        self.msg_id = (self.msg_id + 1) & 0xFFFF
        payload = c.encode(msg_type, self.msg_id, body)
        if keep:
            self.pending[self.msg_id] = [payload, 0, what or c.NAMES[msg_type]]
        self.node.wake()
        if self.node.send_app(payload):
            self.stats[f"tx-{c.NAMES[msg_type]}"] += 1
            if keep:
                self.pending[self.msg_id][1] += 1

    def _schedule_poll(self, delay: float) -> None:
        if self._poll_timer is not None:
            self._poll_timer.cancel()
        self._poll_timer = self.timeline.call_later(delay, self._poll)

    def _poll(self) -> None:
        self._poll_timer = None
        if not self.running or not self.node.joined:
            return
        if self.timeline.now() - self.heard_at > LOST_AFTER_S:
            self.stats["rejoins"] += 1
            self.node.leave()
            self._on_lost()
            return
        for mid, entry in list(self.pending.items()):
            if entry[1] >= (30 if entry[2] == "alarm" or entry[2] == "result" else 3):
                self.stats[f"gave-up-{entry[2]}"] += 1
                del self.pending[mid]
                continue
            self.node.wake()
            if self.node.send_app(entry[0]):
                entry[1] += 1
        self._send(c.POLL, c.poll_body(int(self.local_now()), 1000), keep=False)
        self._listen()
        self._schedule_poll(self.spec.poll_interval_s)

    def _listen(self, extra: float = 0.0) -> None:
        self.node.wake()
        if self._sleep_timer is not None:
            self._sleep_timer.cancel()
        self._sleep_timer = self.timeline.call_later(self.spec.listen_s + extra, self._doze)

    def _doze(self) -> None:
        self._sleep_timer = None
        if self.node.state in ("scanning", "authenticating"):
            return
        self.node.sleep()

    def _on_app(self, payload: bytes) -> None:
        try:
            msg = c.decode(payload)
        except c.IotCodecError:
            self.stats["rx-malformed"] += 1
            return
        self.stats[f"rx-{msg.name}"] += 1
        self.heard_at = self.timeline.now()
        if msg.type == c.TIME:
            clock, more = c.parse_time(msg.body)
            err = self.local_now() - clock
            if abs(err) > 1.0:
                self.offset -= err
                self.stats["clock-corrected"] += 1
            if more:
                self._listen(1.0)
        elif msg.type == c.ACK:
            mid, status = c.parse_ack(msg.body)
            entry = self.pending.pop(mid, None)
            if status != c.ERR_NONE:
                self.stats[f"nack-{status}"] += 1
            elif entry is not None:
                self.stats[f"acked-{entry[2]}"] += 1
        elif msg.type == c.COMMAND:
            self._on_command(msg.body)
        elif msg.type == c.HISTORY_REQUEST:
            first, last = c.parse_history(msg.body)
            n = self.send_history(first, last, keep=True)
            self.log.append((self.timeline.now(), f"history {first}-{last}: {n} values"))
            self._listen(1.0)

    def _on_command(self, blob: bytes) -> None:
        try:
            cmd, plain, tag = c.parse_command(blob)
        except c.IotCodecError:
            self.stats["cmd-malformed"] += 1
            return
        if cmd.terminal_id != self.spec.tid or not c.command_tag_ok(self.spec.cmd_key, plain, tag):
            result = c.RESULT_BAD_TAG
        elif cmd.counter <= self.last_counter:
            result = c.RESULT_REPLAY
        elif abs(cmd.issued_at - self.local_now()) > COMMAND_TTL_S:
            result = c.RESULT_REPLAY            # authentic but stale (held back) or from the future
            self.last_counter = cmd.counter
            self.stats["cmd-expired"] += 1
            self.log.append((self.timeline.now(), f"command #{cmd.counter} expired: issued "
                                                  f"{cmd.issued_at - self.local_now():+.0f} s from now"))
        elif self.kind != c.KIND_GAS or cmd.op not in c.OP_NAMES:
            result = c.RESULT_NOT_PERMITTED
            self.last_counter = cmd.counter
        else:
            self.last_counter = cmd.counter
            if cmd.op == c.OP_CLOSE:
                self.valve_open = False
                result = c.RESULT_OK
            elif self.leak_lock:
                result = c.RESULT_NOT_PERMITTED     # a leak shut-off needs a site visit first
            else:
                self.valve_open = True
                result = c.RESULT_OK
        self.log.append((self.timeline.now(), f"command {c.OP_NAMES.get(cmd.op, cmd.op)} #{cmd.counter}: "
                                              f"{c.RESULT_NAMES[result]}"))
        self.stats[f"cmd-{c.RESULT_NAMES[result]}"] += 1
        reason = self.shutoff_reasons[-1] if self.shutoff_reasons else 0
        sealed = c.SealedResult(self.spec.tid, cmd.counter, result, self.valve_open, reason).seal(self.spec.cmd_key)
        self._send(c.COMMAND_RESULT, sealed, keep=True, what="result")
        self._listen(0.5)

    # ---------------------------------------------------------------- reporting
    def radio_joules_per_day(self) -> float:
        days = max(1e-9, (self.timeline.now() - self.t0) / DAY)
        return self.node.settle_energy().joules / days


class RelayDevice:
    """A mains-powered Enhanced HAN relay (always awake): joins the meter, then forwards."""

    def __init__(self, terminal_id: str, mac: bytes, psk: bytes, air, timeline, *, channel: int, max_hops: int = 2,
                 random_bytes=None):
        kw = {} if random_bytes is None else {"random_bytes": random_bytes}
        self.terminal_id = terminal_id
        self.timeline = timeline
        self.node = EhanNode(air, timeline, mac, terminal_id=terminal_id.encode("ascii")[:8].ljust(8, b" "),
                             psk=psk, channel=channel, role="relay", max_hops=max_hops, **kw)
        self.node.on_lost = self._on_lost
        self.node.on_app = self._on_app
        self.node.on_joined = self._on_joined
        self.backoff_s = 30.0

    def start(self) -> None:
        self.node.join()
        self._keepalive()

    def _on_app(self, payload: bytes) -> None:
        self.node.stats["rx-app-msg"] += 1

    def _keepalive(self) -> None:
        # a relay polls too, so it notices when the meter lost its session (power cut)
        if self.node.joined:
            self.node.stats["keepalive"] += 1
            if self.node.stats["rx-app-msg"] == self._seen and self.node.stats["keepalive"] > 1:
                self._missed += 1
            else:
                self._missed = 0
            self._seen = self.node.stats["rx-app-msg"]
            if self._missed >= 8:          # the meter answers at least every 300 s
                self.node.leave()
                self._on_lost()
            else:
                self.node.send_app(c.encode(c.POLL, 0, c.poll_body(int(self.timeline.now()), 1000)))
        self.timeline.call_later(120.0, self._keepalive)

    _seen = 0
    _missed = 0

    def _on_joined(self, hops: int) -> None:
        self._missed, self._seen, self.backoff_s = 0, self.node.stats["rx-app-msg"], 30.0

    def _on_lost(self) -> None:
        self.timeline.call_later(self.backoff_s, self._rejoin)
        self.backoff_s = min(300.0, self.backoff_s * 2)

    def _rejoin(self) -> None:
        if not self.node.joined and self.node.state == "idle":
            self.node.join()
