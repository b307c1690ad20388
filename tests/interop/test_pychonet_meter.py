"""pychonet (PyPI, unmodified) against the REAL meter: the emulated LV board running in real
time, its B-route served by the firmware on 127.0.0.x:3610 with multicast on loopback."""
import asyncio
import random

import pytest

pychonet = pytest.importorskip("pychonet", reason="pychonet is in the 'test' extra: pip install -e '.[test]'")
from pychonet import Factory  # noqa: E402
from pychonet_client import discover_by_multicast, pychonet_client  # noqa: E402

from sumame.firmware.metrology.readings import Quantity  # noqa: E402
from sumame.tools.emulate.meter_thread import MeterThread  # noqa: E402

pytestmark = pytest.mark.interop


@pytest.fixture
def meter(tmp_path):
    address = f"127.0.0.{random.randint(20, 250)}"
    m = MeterThread("emulated-lv", overrides={"broute": {"ip": [address], "multicast": True}},
                    profile="constant", state_dir=tmp_path)
    try:
        m.start()
    except OSError as exc:
        pytest.skip(f"cannot bind {address}:3610 or join 224.0.23.0 on loopback: {exc}")
    yield m, address
    m.stop()


def test_pychonet_discovers_and_polls_the_emulated_meter(meter):
    m, host = meter
    assert ("echonet-udp", f"{host}:3610") in m.endpoints

    async def scenario():
        udp, api, found = await pychonet_client()
        try:
            assert await discover_by_multicast(api, found, host), f"multicast probe unanswered (heard {found})"
            assert await api.discover(host)
            assert await api.getAllPropertyMaps(host, 0x02, 0x88, 0x01)
            assert len(api.state[host]["instances"][0x02][0x88][0x01][0x9F]) >= 16
            device = Factory(host, api, 0x02, 0x88, 0x01)
            for _ in range(10):
                values = await device.update([0xE7, 0xE8, 0xE0, 0xE1, 0xD3, 0xEA])
                now = m.call(lambda rt: (rt.meter.readings.cumulative_now(Quantity.FORWARD),
                                         rt.meter.readings.present()))
                assert values[0xE7] == now[1].power_w == 1000
                assert values[0xE8]["r_phase_amperes"] == now[1].current_da[0] / 10
                assert values[0xE1] == 0.01 and values[0xD3] == 1
                assert now[0] - 1 <= values[0xE0] <= now[0]
        finally:
            udp.close()

    asyncio.run(scenario())
    counters = m.call(lambda rt: dict(rt.meter.services[0].service.counters))
    assert counters.get("malformed", 0) == 0 and counters["answered"] >= 12
