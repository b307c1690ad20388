"""Interop: an unmodified momonga (PyPI) drives the emulated HEMS-side dongle on a pty.

momonga opens the pty like a real BP35C2 / BP35A1, sends ROPT/WOPT, SKINFO, SKRESET, SA2,
credentials, scans (it needs EPANDESC with PairID and, for C2, Side), joins over PANA (EVENT 25)
against the emulated meter-side dongle, which the meter's own driver (drivers/skstack.py)
configures through a second pty, then reads E7 through SKSENDTO / ERXUDP on an encrypted link.

The ECHONET Lite answers come from ``EchonetStandIn`` below: a **test stand-in** for the real
ECHONET Lite node (issue 3), answering only the Get requests momonga sends during ``open()`` (E1,
D3) and the E7 read. It is not product code.
"""
from __future__ import annotations

import select
import threading

import pytest

momonga = pytest.importorskip("momonga", reason="momonga (test extra) is not installed")

from sumame.drivers.emulated.wisun.world import build_wisun_world, meter_pan_defaults  # noqa: E402
from sumame.drivers.skstack import SkstackModem  # noqa: E402
from sumame.hal.radio import SessionJoined, UdpReceived  # noqa: E402

pytestmark = pytest.mark.interop

RBID = "00112233445566778899AABBCC0112CE"
PASSWORD = "ABCDEFGH1234"
INSTANT_POWER_W = 228


class EchonetStandIn:
    """TEST STAND-IN for the ECHONET Lite node of issue 3: answers Get (0x62) for a few EPCs of
    the low-voltage smart meter 0x028801, Get_SNA for the rest."""

    VALUES = {0xE1: b"\x01", 0xD3: b"\x00\x00\x00\x01", 0xE7: INSTANT_POWER_W.to_bytes(4, "big"),
              0x80: b"\x30", 0xD7: b"\x06"}

    def __init__(self):
        self.requests: list[bytes] = []

    def answer(self, frame: bytes) -> bytes | None:
        if len(frame) < 12 or frame[:2] != b"\x10\x81" or frame[10] != 0x62:
            return None
        self.requests.append(frame)
        tid, seoj, deoj, opc = frame[2:4], frame[4:7], frame[7:10], frame[11]
        props, pos, ok = b"", 12, True
        for _ in range(opc):
            epc, pdc = frame[pos], frame[pos + 1]
            pos += 2 + pdc
            value = self.VALUES.get(epc)
            if value is None:
                ok = False
                props += bytes([epc, 0])
            else:
                props += bytes([epc, len(value)]) + value
        esv = 0x72 if ok else 0x52
        return b"\x10\x81" + tid + deoj + seoj + bytes([esv, opc]) + props


class MeterSide(threading.Thread):
    """The meter's Wi-SUN side: our driver on the meter dongle's pty, PAA started, ECHONET
    requests handed to the stand-in."""

    def __init__(self, path: str, mac: str):
        super().__init__(daemon=True)
        self.modem = SkstackModem(path)
        self.mac = mac
        self.standin = EchonetStandIn()
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.events: list = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            m = self.modem
            m.identify()
            m.reset().wait()
            m.set_credentials(RBID, PASSWORD).wait()
            channel, pan_id = meter_pan_defaults(self.mac)
            m.start_pan(channel, pan_id, lifetime_s=86400).wait()
            self.ready.set()
            while not self.stop.is_set():
                select.select([m.fileno()], [], [], 0.05)
                for ev in m.poll():
                    self.events.append(ev)
                    if isinstance(ev, SessionJoined):
                        # instance-list notification, as a meter sends after a join
                        m.send_udp("FF02:0000:0000:0000:0000:0000:0000:0001", 3610,
                                   bytes.fromhex("108100000EF0010EF0017301D50401028801"))
                    if isinstance(ev, UdpReceived) and ev.dst_port == 3610 and ev.secured:
                        reply = self.standin.answer(ev.payload)
                        if reply is not None:
                            m.send_udp(ev.src, 3610, reply)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            self.ready.set()


@pytest.fixture(params=["bp35c2", "bp35a1"])
def world(request, tmp_path):
    w = build_wisun_world(personality=request.param, mode="fast", seed=7,
                          meter_link=str(tmp_path / "meter-dongle"), hems_link=str(tmp_path / "hems-dongle"))
    w.start()
    meter = MeterSide(w.meter_path, w.meter_dongle.mac_hex)
    meter.start()
    assert meter.ready.wait(20), "meter side did not come up"
    assert meter.error is None, meter.error
    yield w, meter
    meter.stop.set()
    meter.join(5)
    meter.modem.close()
    w.close()


def _momonga(path: str, password: str = PASSWORD):
    mo = momonga.Momonga(RBID, password, path, scan_retries=1, join_retries=1)
    mo.internal_xmit_interval = 0   # public attribute: skip momonga's fixed 5 s pauses
    mo.recv_timeout = 5
    return mo


def test_momonga_joins_and_reads_instantaneous_power(world):
    w, meter = world
    mo = _momonga(w.hems_path)
    mo.open()
    try:
        assert mo.get_instantaneous_power() == INSTANT_POWER_W
    finally:
        mo.close()
    assert meter.error is None
    assert any(isinstance(e, SessionJoined) for e in meter.events)
    epcs = [req[12] for req in meter.standin.requests]
    assert epcs[:3] == [0xE1, 0xD3, 0xE7]
    assert w.hems_dongle.stack.stats["pana-authenticated"] == 1
    assert w.hems_dongle.stats["cmd-SKSCAN"] == 1


def test_momonga_wrong_password_fails_to_join(world):
    w, meter = world
    mo = _momonga(w.hems_path, password="WRONGPASS123")
    with pytest.raises(momonga.MomongaSkJoinFailure):
        mo.open()
    assert w.hems_dongle.stack.stats["pana-auth-failed"] >= 1
    assert w.meter_dongle.stack.stats["pana-auth-failed"] >= 1


@pytest.mark.slow
def test_momonga_reads_through_dongles_keeping_real_time(tmp_path):
    """Issue 16 item 3: with the real-dongle timing (air mode "accurate", the default of
    ``sumame emulate``) momonga still joins and reads; its scan takes what a real scan takes."""
    import time

    w = build_wisun_world(personality="bp35c2", mode="accurate", seed=7,
                          meter_link=str(tmp_path / "meter-dongle"), hems_link=str(tmp_path / "hems-dongle"))
    w.start()
    meter = MeterSide(w.meter_path, w.meter_dongle.mac_hex)
    meter.start()
    try:
        assert meter.ready.wait(20) and meter.error is None, meter.error
        mo = _momonga(w.hems_path)
        t0 = time.monotonic()
        mo.open()
        try:
            opened_s = time.monotonic() - t0
            assert mo.get_instantaneous_power() == INSTANT_POWER_W
        finally:
            mo.close()
        assert opened_s > 15.0        # a 28-channel duration-6 scan alone is ~17.7 s on a real dongle
        assert w.hems_dongle.timing.name == "real"
    finally:
        meter.stop.set()
        meter.join(5)
        meter.modem.close()
        w.close()
