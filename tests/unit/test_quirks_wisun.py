"""Issue 17, Wi-SUN surface: each profile's visible effect on the HEMS dongle's SKSTACK bytes,
driven by our driver (drivers/skstack.py) over an in-process port on the fast air, in virtual
time (deterministic, seeded). The meter side is a second emulated dongle acting as PAA and
answering every ECHONET datagram with one datagram."""
from __future__ import annotations

import math

import pytest
import serial

from sumame.drivers.emulated.air import Air, AirConfig
from sumame.drivers.emulated.wisun.dongle import EmulatedDongle
from sumame.drivers.emulated.wisun.dongle_serve import InProcessPort
from sumame.drivers.emulated.quirks.base import QuirkError
from sumame.drivers.emulated.quirks.registry import PRESETS, make, parse_spec, preset
from sumame.drivers.emulated.quirks.wisun_hooks import DongleQuirks, lqi_of_dbm
from sumame.drivers.emulated.timeline import Timeline
from sumame.drivers.skstack import SkstackModem
from sumame.firmware.core.clock import VirtualClock
from sumame.hal.errors import CommsError
from sumame.hal.radio import (AuthFailed, CommandFailed, SessionExpired, SessionJoined, TxLimit, UdpReceived,
                              UdpSent)

RBID = "0123456789ABCDEF0123456789ABCDEF"
PASSWORD = "0123456789AB"
METER_MAC = "001D12910003B5FB"
METER_LL = "FE80:0000:0000:0000:021D:1291:0003:B5FB"
GET_E7 = b"\x10\x81\x00\x01\x05\xff\x01\x02\x88\x01\x62\x01\xe7\x00"


class World:
    """Meter dongle (PAA, answers each ECHONET datagram) + HEMS dongle with a DongleQuirks."""

    def __init__(self, personality="bp35c2", mode="fast"):
        self.timeline = Timeline(VirtualClock(1_700_000_000.0))
        self.air = Air(self.timeline, AirConfig(mode=mode, seed=1))
        self.meter_dongle = EmulatedDongle(self.air, self.timeline, personality="bp35c2", seed=10,
                                           mac=METER_MAC, name="meter")
        self.meter = self._modem(self.meter_dongle)
        self.meter.reset()
        self.meter.set_credentials(RBID, PASSWORD)
        self.meter.start_pan(0x31, 0xB5FB).wait()
        self.hems_dongle = EmulatedDongle(self.air, self.timeline, personality=personality, seed=20, name="hems")
        self.raw = bytearray()
        self.port = InProcessPort(self.hems_dongle, self.timeline, timeout=0.5)
        sink = self.hems_dongle._sink
        self.hems_dongle.attach_sink(lambda b: (self.raw.extend(b), sink(b)))
        self.hems = SkstackModem(self.port, clock=self.timeline.now)
        self.hems.identify()
        self.dq = DongleQuirks(self.hems_dongle)
        self.hems_dongle.quirks = self.dq
        self.answered_tids: list[bytes] = []

    def _modem(self, dongle):
        m = SkstackModem(InProcessPort(dongle, self.timeline, timeout=0.5), clock=self.timeline.now)
        m.identify()
        return m

    def on(self, name, **params):
        return self.dq.add(make(name, {k: str(v) for k, v in params.items()}))

    def run(self, seconds):
        self.timeline.advance(self.timeline.now() + seconds)

    def scan(self, duration=4):
        self.hems.set_credentials(RBID, PASSWORD).wait()
        return self.hems.scan_and_wait(duration=duration)

    def join(self):
        pans = self.scan(6)
        assert len(pans) == 1
        self.hems.join(pans[0]).wait(10)
        return self.hems.wait_event(lambda e: isinstance(e, (SessionJoined, AuthFailed)), 30)

    def exchange(self, tid: int = 1) -> tuple[int, bool]:
        """One request (SKSENDTO) and, if the meter got it, its answer: (EVENT 21 result, answered)."""
        frame = GET_E7[:2] + tid.to_bytes(2, "big") + GET_E7[4:]
        self.hems._read(block=False)                 # PANA's EVENT 21s (re-auth) are not ours
        self.hems._events = [e for e in self.hems._events if not isinstance(e, UdpSent)]
        self.hems.send_udp(METER_LL, 3610, frame).wait(10)
        sent = self.hems.wait_event(lambda e: isinstance(e, UdpSent), 10)
        while sent.result == 2:                    # neighbour solicitation first; the data follows
            sent = self.hems.wait_event(lambda e: isinstance(e, UdpSent), 10)
        got = self._meter_answers()
        try:
            back = self.hems.wait_event(lambda e: isinstance(e, UdpReceived) and e.dst_port == 3610, 1.0)
        except CommsError:
            return sent.result, False
        assert got and back.payload[2:4] == frame[2:4]
        return sent.result, True

    def _meter_answers(self) -> bool:
        try:
            rx = self.meter.wait_event(lambda e: isinstance(e, UdpReceived) and e.dst_port == 3610, 0.5)
        except CommsError:
            return False
        self.meter.send_udp(rx.src, 3610, rx.payload[:4] + b"answer").wait(10)
        return True

    def since(self, mark: int) -> bytes:
        return bytes(self.raw[mark:])


def joined_world(personality="bp35c2", mode="fast") -> World:
    w = World(personality, mode)
    assert isinstance(w.join(), SessionJoined)
    assert w.exchange() == (0, True)
    return w


# ---------------------------------------------------------------------- P1 silent-spell
@pytest.mark.parametrize("mode", ["fast", "accurate"])
def test_silent_spell_event21_ok_but_no_erxudp_until_the_spell_ends(mode):
    w = joined_world(mode=mode)
    q = w.on("silent-spell", duration_s=60, every_s=0, ends_on_reopen="false")
    mark = len(w.raw)
    assert w.exchange(2) == (0, False)             # EVENT 21 … 00 and OK, but no answer
    out = w.since(mark)
    assert b"EVENT 21 " + METER_LL.encode() + b" 0 00\r\nOK\r\n" in out and b"ERXUDP" not in out
    assert q.fired >= 1 and w.hems_dongle.stats["quirk-dropped-rx"] >= 1
    w.run(61)
    assert w.exchange(3) == (0, True)              # the spell is over
    assert any(e["what"] == "dropped" for e in w.dq.log)


def test_silent_spell_knob_event21_01_and_a_rejoin_ends_the_spell():
    w = joined_world()
    w.on("silent-spell", duration_s=3600, every_s=0, event21=1)
    mark = len(w.raw)
    assert w.exchange(2) == (1, False)
    assert b"EVENT 21 " + METER_LL.encode() + b" 0 01\r\n" in w.since(mark)
    assert w.meter_dongle.stack.stats["rx-udp"] == 1   # only the first request reached the meter
    assert isinstance(w.join(), SessionJoined)     # re-open: the meter answers again
    assert w.exchange(3) == (0, True)


def test_silent_spell_windows_repeat_every_period():
    w = joined_world()
    w.on("silent-spell", at=10, duration_s=20, every_s=100, ends_on_reopen="false")
    got = []
    for _ in range(12):
        got.append(w.exchange()[1])
        w.run(10)
    # t≈0 answered, 10..30 silent, then answered until 110..130
    assert got[0] and not got[1] and not got[2] and all(got[4:10]) and not got[11]


# ---------------------------------------------------------------------- P2 link-quality
def test_link_quality_sets_lqi_in_erxudp_and_epandesc():
    w = World()
    w.on("link-quality", rssi_dbm=-70, loss_pct=0)
    pans = w.scan(6)
    assert pans[0].lqi == lqi_of_dbm(-70) == 0x7D
    assert b"LQI:7D" in w.raw
    w.hems.join(pans[0]).wait(10)
    w.hems.wait_event(lambda e: isinstance(e, SessionJoined), 30)
    w.hems.send_udp(METER_LL, 3610, GET_E7).wait(10)
    w._meter_answers()
    back = w.hems.wait_event(lambda e: isinstance(e, UdpReceived) and e.dst_port == 3610, 2)
    assert back.lqi == 0x7D                            # the SA2 RSSI token of ERXUDP


def test_link_quality_at_minus_95_dbm_answered_share_matches_the_loss():
    w = joined_world()
    q = w.on("link-quality", rssi_dbm=-95, loss_pct=30, seed=7)
    n = 300
    results = [w.exchange(i + 2) for i in range(n)]
    answered = sum(ok for _, ok in results)
    assert all((r == 1) == (not ok) for r, ok in results)      # every loss is an EVENT 21 … 01
    sigma = math.sqrt(n * 0.3 * 0.7)
    assert abs(answered - n * 0.7) < 4 * sigma, answered
    assert q.lost == n - answered and q.sent == n
    traffic = w.dq.report()["traffic"]
    assert traffic["sends"] == n + 1 and traffic["answered"] == answered + 1 and traffic["recover_s"]   # + the joined check


def test_link_quality_above_the_threshold_loses_nothing_and_drifts_down():
    w = joined_world()
    q = w.on("link-quality", rssi_dbm=-60, drift_to_dbm=-100, drift_s=1000, loss_pct=100)
    assert all(w.exchange(i)[1] for i in range(5))         # -60 dBm: above -88
    assert q.lost == 0
    w.run(800)                                             # -92 dBm now
    assert q.level(w.timeline.now()) == pytest.approx(-92, abs=0.5)
    assert w.exchange(9) == (1, False)


# ---------------------------------------------------------------------- P3 scan-hard
def test_scan_hard_needs_the_minimum_duration():
    w = World()
    w.on("scan-hard", min_duration=5)
    mark = len(w.raw)
    assert w.scan(4) == []
    out = w.since(mark)
    assert b"EVENT 22" in out and b"EPANDESC" not in out and b"EVENT 20" not in out
    assert len(w.scan(5)) == 1


def test_scan_hard_miss_prob_is_seeded():
    def found(seed):
        w = World()
        w.on("scan-hard", min_duration=0, miss_prob=0.5, seed=seed)
        return [len(w.scan(6)) for _ in range(8)]
    a = found(3)
    assert a == found(3) and 0 < sum(a) < 8


# ---------------------------------------------------------------------- P4 pana-fail
@pytest.mark.parametrize("mode", ["fast", "accurate"])
def test_pana_fail_n_times_then_joins(mode):
    w = World(mode=mode)
    q = w.on("pana-fail", n_failures=2)
    mark = len(w.raw)
    assert isinstance(w.join(), AuthFailed)
    out = w.since(mark)
    assert out.count(b"ERXUDP ") >= 2 and b" 02CC 02CC " in out     # the PANA exchange ran
    assert b"EVENT 24 " + METER_LL.encode() in out and b"EVENT 25" not in out
    assert not w.hems_dongle.stack.keys
    assert isinstance(w.join(), AuthFailed)
    assert isinstance(w.join(), SessionJoined)
    assert q.fired == 2 and w.exchange() == (0, True)


# ---------------------------------------------------------------------- P5 session-expiry
def test_session_expiry_29_then_25():
    w = joined_world()
    w.on("session-expiry", lifetime_s=100, mode="29-then-25", reauth_s=5)
    w.run(79)
    assert w.exchange(2) == (0, True)
    w.run(2)
    w.hems.wait_event(lambda e: isinstance(e, SessionExpired), 1)
    assert w.exchange(3) == (1, False)                  # EVENT 29 blocks sending
    w.hems.wait_event(lambda e: isinstance(e, SessionJoined), 10)   # re-authenticated: EVENT 25
    assert w.exchange(4) == (0, True)


@pytest.mark.parametrize("mode", ["29-then-drop", "silent-drop"])
def test_session_expiry_drop_modes(mode):
    w = joined_world()
    w.on("session-expiry", lifetime_s=60, mode=mode)
    mark = len(w.raw)
    w.run(49)
    assert (b"EVENT 29" in w.since(mark)) == (mode == "29-then-drop")
    assert not w.hems_dongle.stack.keys
    assert w.exchange(2) == (1, False)                  # no key: a secured send fails
    assert isinstance(w.join(), SessionJoined)           # the client must re-join
    assert w.exchange(3) == (0, True)


def test_session_expiry_auto_reauth_runs_a_real_pana_exchange():
    w = joined_world()
    w.on("session-expiry", lifetime_s=100, mode="auto-reauth")
    mark = len(w.raw)
    w.run(85)
    out = w.since(mark)
    assert b" 02CC 02CC " in out and b"EVENT 25" in out and b"EVENT 29" not in out
    assert w.exchange(2) == (0, True)


# ---------------------------------------------------------------------- P6 single-hems
def test_single_hems_refuse_new_during_the_window():
    w = World()
    w.on("single-hems", policy="refuse-new", duration_s=120)
    assert isinstance(w.join(), AuthFailed)
    w.run(121)
    assert isinstance(w.join(), SessionJoined)


def test_single_hems_kick_old_takes_the_session_away():
    w = joined_world()
    w.on("single-hems", policy="kick-old", at=30, duration_s=60)
    w.run(31)
    w.hems.wait_event(lambda e: isinstance(e, SessionExpired), 1)
    assert w.exchange(2) == (1, False)
    assert isinstance(w.join(), AuthFailed)              # the other HEMS holds the meter
    w.run(60)
    assert isinstance(w.join(), SessionJoined)


# ---------------------------------------------------------------------- P14 dongle-personality
def test_dongle_personality_picks_the_model_and_its_factory_wopt():
    w = World("bp35c2")
    q = w.on("dongle-personality", model="bp35a1")
    assert w.hems_dongle.p.dialect == "se"
    mark = len(w.raw)
    w.port.write(b"SKSCAN 2 FFFFFFFF 4 0\r\n")             # the C2 form on a single-stack stick
    w.run(1)
    assert b"FAIL ER05" in w.since(mark)
    w.hems.poll()
    w.hems.identify()
    assert w.hems.dialect == "se"
    w.dq.remove(q.name)
    assert w.hems_dongle.p.name == "bp35c2"


@pytest.mark.parametrize("model,wopt,answer", [("rs-wsuha", "0", b"OK 00\r"), ("rs-wsuha", "1", b"OK 01\r"),
                                               ("rl7023-dss", "model", b"FAIL ER04\r")])
def test_dongle_personality_ropt(model, wopt, answer):
    w = World("bp35c2")
    w.port.write(b"WOPT 01\r")
    w.run(1)
    w.on("dongle-personality", model=model, factory_wopt=wopt)
    mark = len(w.raw)
    w.port.write(b"ROPT\r")
    w.run(1)
    assert w.since(mark).endswith(answer)


def test_dongle_personality_strict_argument_count():
    w = World("bp35c2")
    w.port.write(b"SKSCAN 2 FFFFFFFF 4 0 \r\n")
    w.run(1)
    assert b"FAIL ER05" not in w.raw                       # a real C2 stick tolerates it
    w.on("dongle-personality", model="bp35c2", strict="on")
    w.run(30)
    mark = len(w.raw)
    w.port.write(b"SKSCAN 2 FFFFFFFF 4 0 \r\n")
    w.run(1)
    assert b"FAIL ER05" in w.since(mark)


# ---------------------------------------------------------------------- P15 dongle-wedge
def test_dongle_wedge_mute_until_skreset():
    w = World()
    q = w.on("dongle-wedge", after_n_cmds=2, mode="mute")
    w.hems.command("SKVER").wait()
    w.hems.command("SKINFO").wait()
    mark = len(w.raw)
    with pytest.raises(CommsError):
        w.hems.command("SKVER", timeout_s=1).wait(2)
    assert w.since(mark) == b""                                # not even the echo
    assert q.wedged
    w.hems.reset().wait(2)                                     # SKRESET still works
    assert not q.wedged
    w.hems.command("SKVER").wait(2)


@pytest.mark.parametrize("mode", ["fast", "accurate"])
def test_dongle_wedge_er10_after_time(mode):
    w = World(mode=mode)
    w.on("dongle-wedge", after_n_cmds=0, after_s=10, mode="er10")
    w.hems.command("SKVER").wait()
    w.run(11)
    with pytest.raises(CommsError) as err:
        w.hems.command("SKVER").wait(2)
    assert getattr(err.value, "code", None) == 10
    assert w.raw.endswith(b"FAIL ER10\r\n")


def test_dongle_wedge_replug_kills_the_port_then_a_fresh_stick_comes_back():
    w = World()
    w.on("dongle-wedge", after_n_cmds=2, recover="replug", replug_s=3)
    w.hems.command("SKVER").wait()
    w.port.write(b"SKVER\r\n")
    w.run(0.1)
    with pytest.raises(serial.SerialException):
        w.port.read(1)
    w.run(3)
    assert not w.hems_dongle.unplugged
    w.hems.command("SKVER").wait(2)                          # a freshly powered stick
    assert w.hems_dongle.regs[0x02] == 0x21


def test_dongle_wedge_needs_a_trigger():
    with pytest.raises(QuirkError, match="dongle-wedge"):
        make("dongle-wedge", {"after_n_cmds": "0"})


# ---------------------------------------------------------------------- P16 duty-cycle
def test_duty_cycle_event_32_refusals_and_event_33():
    w = joined_world()
    w.on("duty-cycle", tx_budget_s=0.05, window_s=60)
    results = [w.exchange(i + 2) for i in range(12)]
    assert results[0] == (0, True) and results[-1] == (1, False)
    w.hems.wait_event(lambda e: isinstance(e, TxLimit) and e.active, 1)
    assert b"EVENT 32\r\n" in w.raw
    assert w.hems.command("SKSREG SFB").wait(2).lines == ["ESREG 1"]          # the limit flag
    w.run(61)
    w.hems.wait_event(lambda e: isinstance(e, TxLimit) and not e.active, 1)
    assert w.hems.command("SKSREG SFB").wait(2).lines == ["ESREG 0"]
    assert w.exchange(99) == (0, True)


@pytest.mark.parametrize("mode", ["fast", "accurate"])
def test_duty_cycle_refuse_with_er10(mode):
    w = joined_world(mode=mode)
    w.on("duty-cycle", tx_budget_s=0.001, refuse="er10")
    w.hems.send_udp(METER_LL, 3610, GET_E7)
    w.run(2)
    failed = [e for e in w.hems.poll() if isinstance(e, CommandFailed)]
    assert failed and getattr(failed[0].error, "code", None) == 10
    w.hems.command("SKVER").wait(2)                   # the dongle keeps serving


# ---------------------------------------------------------------------- registry, bad input, default
def test_specs_presets_and_errors_name_the_profile():
    assert parse_spec("link-quality:rssi_dbm=-95,loss_pct=40") == ("link-quality", {"rssi_dbm": "-95",
                                                                                     "loss_pct": "40"})
    for name in ("flaky-dongle", "weak-link"):
        for prof, params in preset(name):
            make(prof, params)
    assert any(s.startswith("link-quality") for s in PRESETS["weak-link"])
    with pytest.raises(QuirkError, match="link-quality: loss_pct"):
        make("link-quality", {"loss_pct": "150"})
    with pytest.raises(QuirkError, match="session-expiry: mode"):
        make("session-expiry", {"mode": "forever"})
    with pytest.raises(QuirkError, match="scan-hard: unknown parameter"):
        make("scan-hard", {"duration": "4"})


def test_no_quirks_by_default():
    w = World()
    assert EmulatedDongle(w.air, w.timeline, seed=1).quirks is None
    w.hems_dongle.quirks = None
    assert isinstance(w.join(), SessionJoined) and w.exchange() == (0, True)


def test_a_j11_hems_dongle_takes_no_wisun_profiles():
    from sumame.drivers.emulated.quirks.engine import QuirkEngine
    from sumame.drivers.emulated.quirks.wisun_hooks import attach, hems_quirks
    from sumame.drivers.emulated.wisun.world import build_wisun_world

    world = build_wisun_world(personality="j11", serve=False, clock=VirtualClock(1_700_000_000.0), seed=1)
    engine = QuirkEngine(world.timeline)
    dq = hems_quirks(world, engine)
    engine.enable("dongle-personality", {"model": "bp35a1"})
    dq.sync()
    assert not dq.supported and dq.quirks == {}
    with pytest.raises(TypeError, match="J11"):
        attach(world, make("link-quality", {}))


def test_a_profile_that_raises_is_switched_off_and_the_dongle_keeps_serving():
    from sumame.drivers.emulated.quirks.wisun_hooks import WisunQuirk

    class Broken(WisunQuirk):
        name = "broken"

        def on_command(self, dq, name, item):
            raise RuntimeError("bug")
    w = World()
    w.dq.add(Broken())
    w.hems.command("SKVER").wait(2)                      # answered although the profile raised
    assert "broken" not in w.dq.quirks
    assert any(e["what"] == "error" and "RuntimeError" in e["detail"] for e in w.dq.log)


def test_link_quality_latency_jitter_delays_erxudp():
    w = joined_world()
    w.on("link-quality", rssi_dbm=-70, loss_pct=0, latency_jitter_s=2.0, seed=4)
    delays = []
    for i in range(10):
        w.hems.send_udp(METER_LL, 3610, GET_E7).wait(10)
        w._meter_answers()
        t0 = w.timeline.now()
        w.hems.wait_event(lambda e: isinstance(e, UdpReceived) and e.dst_port == 3610, 5)
        delays.append(w.timeline.now() - t0)
    assert max(delays) <= 2.0 + 0.6 and max(delays) - min(delays) > 0.5     # spread, within the bound
