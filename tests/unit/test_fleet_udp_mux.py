"""The real-time fleet's shared UDP socket (tools/fleet/udp_mux.py) and the head-end's
``udp://host:port/WPORT`` targets: a meter is picked by the wrapper's destination wPort, the
firmware sees its own logical device (wPort 1), answers and pushes leave with the meter's wPort;
garbage, unknown wPorts and floods are refused, counted and logged."""
from __future__ import annotations

import logging
import socket

import pytest

from sumame.firmware.core.clock import RealClock
from sumame.firmware.core.scheduler import Scheduler
from sumame.firmware.net.dlms.wrapper import WrapperPdu
from sumame.tools.fleet import udp_mux
from sumame.tools.fleet.udp_mux import FIRST_WPORT, UdpMux
from sumame.tools.hes.links import MeterTarget


class Endpoint:
    def __init__(self):
        self.got, self.closed_ids = [], []

    def deliver(self, conn_id, data):
        self.got.append((conn_id, data))

    def closed(self, conn_id):
        self.closed_ids.append(conn_id)


@pytest.fixture
def mux():
    hes = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    hes.bind(("127.0.0.1", 0))
    hes.settimeout(2.0)
    m = UdpMux(Scheduler(RealClock(), strict=True), "127.0.0.1:0", f"127.0.0.1:{hes.getsockname()[1]}")
    yield m, hes
    m.task.coro.close()           # the receive loop is not run here: datagrams are fed directly
    m.close()
    hes.close()


def test_target_wport_parse_and_text():
    t = MeterTarget.parse("udp://127.0.0.1:4059/300")
    assert (t.transport, t.address, t.wport) == ("udp", "127.0.0.1:4059", 300)
    assert str(t) == "udp://127.0.0.1:4059/300"
    plain = MeterTarget.parse("udp://127.0.0.1:4059")
    assert plain.wport == 1 and str(plain) == "udp://127.0.0.1:4059"
    for bad in ("udp://h:1/0", "udp://h:1/70000", "udp://h:1/x"):
        with pytest.raises(ValueError):
            MeterTarget.parse(bad)


def test_request_reaches_its_meter_as_logical_device_1_and_the_answer_carries_its_wport(mux):
    m, hes = mux
    a, b = Endpoint(), Endpoint()
    m.serve(str(FIRST_WPORT), a)
    m.serve(str(FIRST_WPORT + 1), b)
    peer = ("127.0.0.1", hes.getsockname()[1])
    m._datagram(WrapperPdu(0x30, FIRST_WPORT + 1, b"\x60\x01").encode(), peer, 0.0)
    assert a.got == []
    (conn_id, data), = b.got
    pdu = WrapperPdu.decode(data)
    assert (pdu.source, pdu.destination, pdu.apdu) == (0x30, 1, b"\x60\x01")
    m.reply(conn_id, WrapperPdu(1, 0x30, b"\x61\x00").encode())
    answer = WrapperPdu.decode(hes.recvfrom(100)[0])
    assert (answer.source, answer.destination) == (FIRST_WPORT + 1, 0x30)
    assert m.push("ignored", WrapperPdu(1, 0x30, b"\x0f").encode(), sender=str(FIRST_WPORT))
    pushed = WrapperPdu.decode(hes.recvfrom(100)[0])
    assert pushed.source == FIRST_WPORT and m.stats["pushes"] == 1


def test_bad_datagrams_are_refused_counted_and_logged(mux, caplog):
    m, _ = mux
    e = Endpoint()
    m.serve(str(FIRST_WPORT), e)
    peer = ("127.0.0.1", 9)
    with caplog.at_level(logging.WARNING, "sumame.fleet.udp"):
        m._datagram(b"\x00\x01", peer, 0.0)                                     # no header
        m._datagram(b"\x00\x02\x00\x10\x01\x00\x00\x00", peer, 0.0)             # version 2
        m._datagram(WrapperPdu(0x10, FIRST_WPORT, b"abc").encode() + b"x", peer, 0.0)   # length
        m._datagram(WrapperPdu(0x10, FIRST_WPORT + 7, b"abc").encode(), peer, 0.0)      # nobody
    assert m.stats["garbage"] == 3 and m.stats["unknown_wport"] == 1
    assert e.got == []
    text = caplog.text
    assert "no wrapper header" in text and "no meter of this process has it" in text


def test_a_flood_on_one_meter_is_cut_to_its_rate_and_others_still_get_through(mux, monkeypatch):
    m, _ = mux
    victim, other = Endpoint(), Endpoint()
    m.serve(str(FIRST_WPORT), victim)
    m.serve(str(FIRST_WPORT + 1), other)
    monkeypatch.setattr(udp_mux.time, "monotonic", lambda: 100.0)      # no refill during the flood
    frame = WrapperPdu(0x10, FIRST_WPORT, b"\xff" * 8).encode()
    for _ in range(1000):
        m._datagram(frame, ("127.0.0.1", 9), 0.0)
    assert len(victim.got) == udp_mux.BURST
    assert m.stats["flooded"] == 1000 - udp_mux.BURST
    m._datagram(WrapperPdu(0x10, FIRST_WPORT + 1, b"\x60").encode(), ("127.0.0.1", 10), 0.0)
    assert len(other.got) == 1


def test_connections_per_meter_are_capped_and_idle_ones_expire(mux):
    m, _ = mux
    e = Endpoint()
    m.serve(str(FIRST_WPORT), e)
    frame = WrapperPdu(0x10, FIRST_WPORT, b"\x60").encode()
    for port in range(udp_mux.PEERS_PER_METER + 2):
        m._datagram(frame, ("127.0.0.1", 1000 + port), 0.0)
    assert len(e.closed_ids) == 2 and len(m._conns) == udp_mux.PEERS_PER_METER
    m._expire(udp_mux.IDLE_TIMEOUT_S + 1)
    assert not m._conns and len(e.closed_ids) == udp_mux.PEERS_PER_METER + 2
