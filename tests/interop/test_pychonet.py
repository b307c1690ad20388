"""Interop with an independent ECHONET Lite client: pychonet (PyPI), unmodified, on loopback.

pychonet discovers the node by a multicast probe (224.0.23.0 joined on lo) and by unicast,
reads the node profile and the meter's property maps (bitmap form), and polls E7, E8, E0, E1,
D3 and EA ten times; every decoded value is checked against the readings.
The node listens on 127.0.0.x:3610 (a random x per run); pychonet binds 127.0.0.1 on an
ephemeral port, so nothing collides with another process on 3610.
"""
import asyncio
import random
from datetime import datetime

import pytest

pychonet = pytest.importorskip("pychonet", reason="pychonet is in the 'test' extra: pip install -e '.[test]'")
from pychonet import Factory  # noqa: E402
from pychonet_client import discover_by_multicast, pychonet_client  # noqa: E402

from sumame.firmware.net import echonet as el  # noqa: E402
from sumame.firmware.metrology.readings import Quantity  # noqa: E402
from sumame.firmware.routes.broute import edt  # noqa: E402
from sumame.tools.hems.sample_node import SampleNode  # noqa: E402

pytestmark = pytest.mark.interop
START = datetime(2025, 6, 15, 12, 10, 1, tzinfo=edt.JST).timestamp()


@pytest.fixture
def node():
    address = f"127.0.0.{random.randint(20, 250)}"
    try:
        n = SampleNode(address, multicast=True, start_epoch=START).start()
    except OSError as exc:
        pytest.skip(f"cannot bind {address}:3610 or join 224.0.23.0 on loopback: {exc}")
    yield n
    n.stop()


def test_pychonet_discovers_reads_maps_and_polls(node):
    host = node.endpoints[0][0]
    readings = node.readings

    async def scenario():
        udp, api, found = await pychonet_client()
        try:
            assert await discover_by_multicast(api, found, host), f"multicast probe unanswered (heard {found})"
            assert await api.discover(host)           # unicast 8A 8C 83 D6
            state = api.state[host]
            assert state["discovered"] and 0x88 in state["instances"][0x02]
            assert state["uid"] == readings.identity.serial.encode().ljust(13, b"\0").hex().join(["ffffff", ""])

            assert await api.echonetMessage(host, 0x0E, 0xF0, 0x01, 0x62,
                                            [{"EPC": e} for e in (0x80, 0x82, 0xD3, 0xD7, 0x9F)])
            assert await api.getAllPropertyMaps(host, 0x02, 0x88, 0x01)
            meter_state = state["instances"][0x02][0x88][0x01]
            getmap = meter_state[0x9F]
            assert len(getmap) >= 16
            assert sorted(getmap) == sorted(node.service.node.objects[1].get_map)
            assert sorted(meter_state[0x9E]) == [0x81, 0xE5, 0xED, 0xEF]

            meter = Factory(host, api, 0x02, 0x88, 0x01)
            for _ in range(10):
                values = await meter.update([0xE7, 0xE8, 0xE0, 0xE1, 0xD3, 0xEA])
                present = readings.present()
                assert values[0xE7] == present.power_w
                assert values[0xE8]["r_phase_amperes"] == present.current_da[0] / 10
                assert values[0xE8]["t_phase_amperes"] == present.current_da[1] / 10
                assert values[0xE0] == readings.cumulative_now(Quantity.FORWARD)
                assert values[0xE1] == readings.scaling.unit_kwh
                assert values[0xD3] == readings.scaling.coefficient
                boundary = readings.latest_boundary(30)
                ea = bytes.fromhex(values[0xEA]) if isinstance(values[0xEA], str) else values[0xEA]
                assert ea[:7] == edt.datetime7(boundary)
                assert int.from_bytes(ea[7:], "big") == readings.cumulative_at(Quantity.FORWARD, boundary)
        finally:
            udp.close()

    asyncio.run(scenario())
    # 14 requests: probe, discovery (8C product code is not held -> Get_SNA), profile, maps, 10 polls
    assert node.service.counters["answered"] == 13 and node.service.counters["refused"] == 1
    assert node.service.counters["malformed"] == 0


def test_pychonet_decoder_agrees_with_ours_on_real_replies(node):
    """Frames our node sent, decoded by pychonet's own decoder, give the same fields."""
    from pychonet.lib.functions import decodeEchonetMsg
    import socket
    host, port = node.endpoints[0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))       # the node answers to our ECHONET Lite port
        s.settimeout(3)
        req = el.Frame(0x4242, el.CONTROLLER, el.Eoj.of(0x028801), el.Esv.GET,
                       tuple(el.Property(e) for e in (0xE7, 0xE8, 0x9F, 0xE2)))
        s.sendto(el.encode(req), (host, port))
        raw, _ = s.recvfrom(2048)
    ours = el.decode(raw)
    theirs = decodeEchonetMsg(raw)
    assert theirs["TID"] == ours.tid == 0x4242 and theirs["ESV"] == ours.esv
    assert [(o["EPC"], o["PDC"], bytes(o["EDT"])) for o in theirs["OPC"]] == \
        [(p.epc, p.pdc, p.edt) for p in ours.props]
