"""The meter's Wi-SUN B-route with our HEMS-side driver: after a PANA join the meter announces
D5 and, after the next :00/:30, EA/EB over the air; the B-route device limit is shared between
the IP and Wi-SUN media (3 IP devices in -> the Wi-SUN device is refused)."""
from __future__ import annotations

import select
import socket
import time


from sumame.drivers.skstack import SkstackModem
from sumame.firmware.net.echonet import CONTROLLER, Eoj, Esv, Frame, Property, decode, encode
from sumame.hal.jst import parse_jst
from sumame.hal.radio import UdpReceived
from wisun_meter import start_wisun_meter

RBID = "00112233445566778899AABBCCDDEEFF"
PASSWORD = "SUMAMEPASS01"
METER = Eoj(0x02, 0x88, 0x01)


def start_meter(tmp_path, **kw):
    return start_wisun_meter(tmp_path, state_dir=tmp_path, profile="constant", wisun=dict(seed=9), **kw)


def join(world):
    hems = SkstackModem(world.hems_path)
    hems.identify()
    hems.set_credentials(RBID, PASSWORD).wait()
    pan = hems.scan_and_wait(duration=3, timeout_s=60)[0]
    return hems, hems.join_and_wait(pan, timeout_s=60).peer


def frames(modem, seconds):
    end, out = time.monotonic() + seconds, []
    while time.monotonic() < end:
        for ev in modem.poll():
            if isinstance(ev, UdpReceived) and ev.dst_port == 3610:
                out.append(decode(ev.payload))
        select.select([modem.fileno()], [], [], 0.05)
    return out


def test_d5_after_join_and_ea_after_the_half_hour(tmp_path):
    boundary = parse_jst("2026-05-01T10:30")
    m, world = start_meter(tmp_path, start_epoch=boundary - 4,
                           overrides={"broute": {"announce_delay_s": 2.0}})
    try:
        hems, peer = join(world)
        got = frames(hems, 8.0)       # past 10:30 + the 2 s announce delay
        hems.close()
    finally:
        m.stop()
        world.close()
    infs = [f for f in got if f.esv == Esv.INF]
    assert any(p.epc == 0xD5 for f in infs for p in f.props), "no D5 instance list after the join"
    assert any(p.epc == 0xEA for f in infs for p in f.props), "no EA announcement over Wi-SUN"


def test_device_limit_is_shared_between_ip_and_wisun(tmp_path):
    m, world = start_meter(tmp_path, overrides={"broute": {"ip": ["127.0.0.1"]}})
    sockets = []
    try:
        for k in range(3):  # three home devices on the IP B-route
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((f"127.0.0.{31 + k}", 3610))   # answers come to the client's port 3610
            s.settimeout(5)
            s.sendto(encode(Frame(k + 1, CONTROLLER, METER, Esv.GET, (Property(0xE7),))), ("127.0.0.1", 3610))
            assert decode(s.recv(1500)).esv == Esv.GET_RES
            sockets.append(s)
        hems, peer = join(world)  # PANA still works: the radio link is not the B-route client limit
        hems.send_udp(peer, 3610, encode(Frame(77, CONTROLLER, METER, Esv.GET, (Property(0xE7),))))
        answers = [f for f in frames(hems, 3.0) if f.tid == 77]
        hems.close()
        refused = m.call(lambda rt: [e for e in rt.meter.events if "refused" in e.kind or "refused" in e.detail])
    finally:
        for s in sockets:
            s.close()
        m.stop()
        world.close()
    assert not answers, "a fourth device (on Wi-SUN) was answered"
    assert any("wi-sun" in e.detail for e in refused)


def test_join_works_when_the_meter_runs_faster_than_real_time(tmp_path):
    m, world = start_meter(tmp_path, ratio=20.0)
    try:
        hems, peer = join(world)
        hems.send_udp(peer, 3610, encode(Frame(5, CONTROLLER, METER, Esv.GET, (Property(0xE7),))))
        answers = [f for f in frames(hems, 2.0) if f.tid == 5]
        hems.close()
    finally:
        m.stop()
        world.close()
    assert answers and answers[0].esv == Esv.GET_RES
