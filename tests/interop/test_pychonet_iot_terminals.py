"""pychonet (PyPI, unmodified) reads the gas (0x0282) and water (0x0281) meters behind emulated
IoT-route terminals over ECHONET Lite on loopback; values are checked against the terminals'
hourly stores."""
import asyncio
import random

import pytest

pychonet = pytest.importorskip("pychonet", reason="pychonet is in the 'test' extra: pip install -e '.[test]'")
from pychonet.GasMeter import GasMeter  # noqa: E402
from pychonet.WaterFlowMeter import WaterFlowMeter  # noqa: E402
from pychonet_client import pychonet_client  # noqa: E402

from sumame.drivers.emulated.iot.echonet_view import NO_DATA, TerminalEchonetNode  # noqa: E402
from sumame.drivers.emulated.iot.world import IotWorld, IotWorldSpec  # noqa: E402
from sumame.firmware.core.clock import VirtualClock  # noqa: E402

pytestmark = pytest.mark.interop


@pytest.fixture
def nodes():
    clock = VirtualClock(1775055600.0)
    world = IotWorld(IotWorldSpec(gas=1, water=1, relay_share=0.0), clock, "SMLV00000000")
    for t in world.terminals:
        t.start()
    world.timeline.advance(clock.now() + 26 * 3600)
    base = random.randint(20, 240)
    served = []
    try:
        for i, t in enumerate(world.terminals):
            served.append(TerminalEchonetNode(t, f"127.0.0.{base + i}").start())
    except OSError as exc:
        pytest.skip(f"cannot bind 127.0.0.x:3610 on loopback: {exc}")
    yield world, served
    for n in served:
        n.stop()


def test_pychonet_reads_gas_and_water_meters(nodes):
    world, (gas_node, water_node) = nodes
    gas_t, water_t = world.terminals

    async def scenario():
        udp, api, _ = await pychonet_client()
        try:
            for node, cls in ((gas_node, 0x82), (water_node, 0x81)):
                assert await api.discover(node.address)
                assert cls in api.state[node.address]["instances"][0x02]
                assert await api.getAllPropertyMaps(node.address, 0x02, cls, 0x01)
            gas = GasMeter(gas_node.address, api)
            latest = gas_t.store[max(gas_t.store)][0]
            assert await gas.update(0xE0) == latest                       # decoded by pychonet
            log = await gas.update(0xE2)
            assert len(log) == 48 and log[-1] == latest and log[-2] == NO_DATA
            assert log[-3] == gas_t.store[max(gas_t.store) - 3600][0]
            water = WaterFlowMeter(water_node.address, api)
            got = await water.update([0xE0, 0xE1, 0xD0, 0xE3])
            assert got[0xE0] == water_t.store[max(water_t.store)][0]
            assert got[0xE1] == 0.001
            assert got[0xD0] == "Running Water"
            assert await api.getAllPropertyMaps(gas_node.address, 0x02, 0x89, 0x01)
            assert await api.echonetMessage(gas_node.address, 0x02, 0x89, 0x01, 0x62,
                                            [{"EPC": e} for e in (0xE2, 0xEA, 0xEB, 0xEC)])
            sg = api.state[gas_node.address]["instances"][0x02][0x89][0x01]
            assert int.from_bytes(sg[0xE2], "big") == latest and sg[0xEB] == b"\x41" and sg[0xEA] == b"\x42"
            gas_t.shut_off(2)                                              # earthquake: the valve closes
            assert await api.echonetMessage(gas_node.address, 0x02, 0x89, 0x01, 0x62,
                                            [{"EPC": e} for e in (0xEA, 0xEB, 0xEC)])
            assert (sg[0xEA], sg[0xEB], sg[0xEC]) == (b"\x41", b"\x42", b"\x00\x00\x02")
            water_t.abnormal = True
            assert await water.update(0xE3) != got[0xE3]                   # the abnormal flag is live
        finally:
            udp.close() if hasattr(udp, "close") else None

    asyncio.run(scenario())
