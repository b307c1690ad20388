"""Review of issue 9 (review-9): attacks on the real meter's ports that the issue's proofs miss."""
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

import pytest  # noqa: E402
from realtime_meter import recorded_meter  # noqa: E402

from sumame.firmware.net.dlms.apdu import decode_apdu  # noqa: E402
from sumame.firmware.net.dlms.wrapper import WrapperPdu  # noqa: E402
from sumame.firmware.routes.aroute.udp import UdpServer  # noqa: E402

GET_DEVICE_ID = bytes.fromhex("C001C1" "0001" "0000600100FF" "02" "00")


def _udp_server(m) -> UdpServer:
    (svc,) = [s for s in m.rt.meter.services if s.name == "a-route"]
    return next(x for x in svc._servers if isinstance(x, UdpServer))


@pytest.mark.timeout(60)
def test_udp_sessions_per_source_address_are_bounded(tmp_path):
    """UDP source addresses cost nothing to forge: one datagram from each of 600 loopback
    addresses must not leave 600 sessions (memory, and an O(peers) idle scan per datagram for
    300 s). The meter keeps serving a new peer afterwards."""
    pdu = WrapperPdu(0x10, 1, GET_DEVICE_ID).encode()
    with recorded_meter(tmp_path, hours=0) as m:
        udp = _udp_server(m)
        for i in range(600):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((f"127.9.{i >> 8}.{(i & 255) + 1 if (i & 255) < 255 else 1}", 0))
                s.sendto(pdu, m.udp)
            if i % 50 == 49:
                time.sleep(0.05)          # let the meter drain its socket (no kernel drops)
        deadline = time.time() + 10
        while getattr(udp, "evicted", 0) + len(udp.peers) < 590 and time.time() < deadline:
            time.sleep(0.05)
        heard = getattr(udp, "evicted", 0) + len(udp.peers)
        assert heard >= 590, f"only {heard} datagrams reached the meter"
        assert len(udp.peers) <= 256, f"{len(udp.peers)} UDP sessions held for forged sources"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(pdu, m.udp)
            reply = WrapperPdu.decode(s.recv(2048))
        assert type(decode_apdu(reply.apdu)).__name__ == "ExceptionResponse"   # served (no association)


def test_b_route_refusals_from_forged_sources_cost_bounded_cpu_and_flash():
    """With the home-device slots taken, each datagram from a new (forged) source address was
    refused with its own flash event and kept in a table that every later refusal rebuilt
    (quadratic: 8000 sources cost 3 s of CPU). Now one refusal event per interval in all, and
    the table of refused devices is bounded."""
    from sumame.firmware.routes.broute.guard import HomeSideGuard, Verdict

    class Events:
        def __init__(self):
            self.kinds = []

        def record(self, kind, **_):
            self.kinds.append(kind)

    events = Events()
    guard = HomeSideGuard(events)
    for i in range(guard.options.max_clients):
        assert guard.admit(("udp", f"192.0.2.{i}"), 0.0) is not None
    for i in range(5000):                                   # 5000 sources within 50 s
        key, now = ("udp", f"127.1.{i >> 8}.{i & 255}"), 1.0 + i * 0.01
        if guard.check(key, now) is Verdict.NEW:
            assert guard.admit(key, now) is None
    assert guard.counters["refused"] == 5000
    assert events.kinds.count("b-route-refused") == 1      # not one flash record per source
    assert len(guard._refused) <= 256
    late = ("udp", "198.51.100.7")                          # a minute later: logged, with the count
    assert guard.admit(late, 1.0 + 5000 * 0.01 + 61) is None
    assert events.kinds.count("b-route-refused") == 2
