"""Hypothesis: the emulated HEMS dongle with every Wi-SUN quirk profile on survives arbitrary host
input (junk, half lines, SKSENDTO with odd lengths, real commands in any order), never raises,
and still answers once the wedge is switched off and SKRESET clears the rest."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sumame.drivers.emulated.air import Air
from sumame.drivers.emulated.wisun.dongle import EmulatedDongle
from sumame.drivers.emulated.quirks.registry import make
from sumame.drivers.emulated.quirks.wisun_hooks import DongleQuirks
from sumame.drivers.emulated.timeline import Timeline
from sumame.firmware.core.clock import VirtualClock

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PROFILES = [("silent-spell", {"event21": "1"}), ("link-quality", {"rssi_dbm": "-95", "applies": "both",
                                                                  "skrssi": "on", "latency_jitter_s": "1"}),
            ("scan-hard", {"miss_prob": "0.5"}), ("pana-fail", {}), ("session-expiry", {"lifetime_s": "60"}),
            ("single-hems", {"policy": "kick-old"}), ("dongle-wedge", {"after_n_cmds": "5", "mode": "er10"}),
            ("duty-cycle", {"tx_budget_s": "0.01", "window_s": "5"})]
LINES = [b"SKVER\r\n", b"SKINFO\r\n", b"SKRESET\r\n", b"SKSCAN 2 FFFFFFFF 4 0\r\n", b"SKSCAN 2 FFFFFFFF 4\r\n",
         b"SKRSSI\r\n", b"SKSETPWD C 0123456789AB\r\n", b"SKSETRBID 0123456789ABCDEF0123456789ABCDEF\r\n",
         b"SKJOIN FE80:0000:0000:0000:021D:1291:0003:B5FB\r\n", b"ROPT\r", b"WOPT 01\r",
         b"SKSENDTO 1 FE80:0000:0000:0000:021D:1291:0003:B5FB 0E1A 1 0 0004 ABCD",
         b"SKSENDTO 1 FE80::1 0E1A 1 0 0002 \x00\x01", b"SKSENDTO 1 FE80::1 0E1A 1 0 FFFF ", b"\r\n"]
chunks = st.one_of(st.sampled_from(LINES), st.binary(max_size=40))


@SETTINGS
@given(st.lists(chunks, max_size=25), st.booleans())
def test_dongle_with_every_wisun_quirk_survives_any_input(feed, personality_swap):
    timeline = Timeline(VirtualClock(1_700_000_000.0))
    air = Air(timeline)
    dongle = EmulatedDongle(air, timeline, seed=1, name="hems")
    out = bytearray()
    dongle.attach_sink(out.extend)
    dq = DongleQuirks(dongle)
    dongle.quirks = dq
    for name, params in PROFILES:
        dq.add(make(name, params))
    if personality_swap:
        dq.add(make("dongle-personality", {"model": "bp35a1"}))
    for data in feed:
        dongle.feed(data)
        timeline.advance(timeline.now() + 0.5)
    assert not any(e["what"] == "error" for e in dq.log), dq.log
    dq.remove("dongle-wedge")                    # (it would wedge again after 5 more commands)
    dongle.feed(b"\r\nSKRESET\r\n")
    timeline.advance(timeline.now() + 1)
    out.clear()
    dongle.feed(b"SKVER\r\n")
    timeline.advance(timeline.now() + 1)
    assert b"EVER " in out
