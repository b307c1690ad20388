"""The virtual air across processes: a meter dongle (+ its driver, as PAA) in a child process and
the HEMS dongle in this one share the medium through an AirHub on loopback UDP."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from sumame.drivers.emulated.air import Air, AirConfig
from sumame.drivers.emulated.air_hub import AirHub
from sumame.drivers.emulated.wisun.dongle import EmulatedDongle
from sumame.drivers.emulated.wisun.dongle_serve import EmulationRunner, PtyEndpoint
from sumame.drivers.emulated.timeline import Timeline
from sumame.drivers.skstack import SkstackModem
from sumame.firmware.core.clock import RealClock
from sumame.hal.radio import UdpReceived

RBID = "0123456789ABCDEF0123456789ABCDEF"
PASSWORD = "0123456789AB"

CHILD = textwrap.dedent("""
    import select, sys, time
    from sumame.drivers.emulated.air import Air, AirConfig
    from sumame.drivers.emulated.wisun.dongle import EmulatedDongle
    from sumame.drivers.emulated.wisun.dongle_serve import EmulationRunner, PtyEndpoint
    from sumame.drivers.emulated.timeline import Timeline
    from sumame.drivers.skstack import SkstackModem
    from sumame.firmware.core.clock import RealClock
    from sumame.hal.radio import UdpReceived
    port = int(sys.argv[1])
    tl = Timeline(RealClock())
    air = Air(tl, AirConfig(mode="fast"), hub=("127.0.0.1", port))
    dongle = EmulatedDongle(air, tl, personality="bp35a1", seed=1, mac="001D1290000A0B0C")
    ep = PtyEndpoint(dongle)
    runner = EmulationRunner(tl)
    runner.add(ep); runner.add(air); runner.start()
    m = SkstackModem(ep.path)
    m.identify()
    m.set_credentials(%r, %r)
    m.start_pan(45, 0x0B0C).wait()
    print("READY", flush=True)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        select.select([m.fileno()], [], [], 0.1)
        for ev in m.poll():
            if isinstance(ev, UdpReceived) and ev.dst_port == 3610:
                m.send_udp(ev.src, 3610, b"from-child:" + ev.payload)
                if ev.payload == b"bye":
                    end = 0
    runner.stop()
""") % (RBID, PASSWORD)


@pytest.fixture
def hub():
    h = AirHub().start()
    yield h
    h.close()


def test_pac_and_paa_in_two_processes_share_the_air(hub):
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(hub.address[1])], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "READY", child.stderr.read()
        tl = Timeline(RealClock())
        air = Air(tl, AirConfig(mode="fast"), hub=hub.address)
        dongle = EmulatedDongle(air, tl, personality="bp35c2", seed=2)
        ep = PtyEndpoint(dongle)
        runner = EmulationRunner(tl)
        runner.add(ep)
        runner.add(air)
        runner.start()
        try:
            h = SkstackModem(ep.path)
            h.identify()
            h.set_credentials(RBID, PASSWORD).wait()
            pans = []
            for _ in range(5):             # as real clients do: scan again if nothing answered
                pans = pans or h.scan_and_wait(duration=2)
            assert [(p.channel, p.pan_id, p.mac) for p in pans] == [(45, 0x0B0C, "001D1290000A0B0C")]
            peer = h.join_and_wait(pans[0], timeout_s=20).peer
            h.send_udp(peer, 3610, b"hello").wait()
            reply = h.wait_event(lambda e: isinstance(e, UdpReceived) and e.dst_port == 3610, 10)
            assert reply.payload == b"from-child:hello" and reply.secured
            h.send_udp(peer, 3610, b"bye").wait()
            h.close()
        finally:
            runner.stop()
            ep.close()
            air.close()
        assert hub.forwarded > 10
    finally:
        try:
            child.wait(15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(5)
