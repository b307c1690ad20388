"""pychonet (PyPI, unmodified) against the REAL meter with field quirks on: it reads the
property map first and so never asks for what a Kansai-profile meter lacks; under an OPC cap
it raises EchonetMaxOpcError with the count the meter answered, and a client that re-batches
with that count (what pychonet's users do) still reads every property."""
import asyncio
import random

import pytest

pytest.importorskip("pychonet", reason="pychonet is in the 'test' extra: pip install -e '.[test]'")
from pychonet import Factory  # noqa: E402
from pychonet.echonetapiclient import EchonetMaxOpcError  # noqa: E402
from pychonet_client import discover_by_multicast, pychonet_client  # noqa: E402

from sumame.tools.emulate.meter_thread import MeterThread  # noqa: E402
from sumame.tools.quirks import attach_quirks, specs_from  # noqa: E402

pytestmark = pytest.mark.interop


def _meter(tmp_path, *specs):
    address = f"127.0.0.{random.randint(20, 250)}"
    m = MeterThread("emulated-lv", overrides={"broute": {"ip": [address], "multicast": True}},
                    profile="constant", state_dir=tmp_path,
                    setup=lambda rt: attach_quirks(rt, specs_from(list(specs), None)))
    try:
        m.start()
    except OSError as exc:
        pytest.skip(f"cannot bind {address}:3610 or join 224.0.23.0 on loopback: {exc}")
    return m, address


async def _connected(host):
    udp, api, found = await pychonet_client()
    assert await discover_by_multicast(api, found, host)
    assert await api.discover(host)
    assert await api.getAllPropertyMaps(host, 0x02, 0x88, 0x01)
    return udp, api


def test_a_kansai_meter_shrinks_its_map_and_pychonet_skips_the_missing_epcs(tmp_path):
    m, host = _meter(tmp_path, "utility-profile:preset=kansai")
    try:
        async def scenario():
            udp, api = await _connected(host)
            try:
                get_map = set(api.state[host]["instances"][0x02][0x88][0x01][0x9F])
                assert {0xE3, 0xEC, 0xD3}.isdisjoint(get_map) and {0xE0, 0xE7, 0xE8} <= get_map
                values = await Factory(host, api, 0x02, 0x88, 0x01).update([0xE0, 0xE3, 0xE7, 0xD3])
                return values
            finally:
                udp.close()
        values = asyncio.run(scenario())
        assert values[0xE7] == 1000 and values[0xE0] is not None
        assert values[0xE3] is None and values[0xD3] is None          # never asked: not in the map
        engine = m.call(lambda rt: rt.extras["quirks"])
        assert engine.quirks["utility-profile"].fired >= 1            # the map itself was rewritten
    finally:
        m.stop()


def test_under_an_opc_cap_pychonet_reports_the_count_and_rebatching_reads_everything(tmp_path):
    m, host = _meter(tmp_path, "opc-cap:max_opc=5")
    epcs = [0x80, 0x81, 0x82, 0x88, 0xD3, 0xD7, 0xE0, 0xE1, 0xE7, 0xE8]   # not 8A: pychonet decodes it twice
    try:
        async def scenario():
            udp, api = await _connected(host)
            device = Factory(host, api, 0x02, 0x88, 0x01)
            try:
                with pytest.raises(EchonetMaxOpcError) as caught:
                    await device.update(epcs)
                cap = caught.value.args[0]
                values = {}
                for i in range(0, len(epcs), cap):
                    values.update(await device.update(epcs[i:i + cap]))
                return cap, values
            finally:
                udp.close()
        cap, values = asyncio.run(scenario())
        assert cap == 5
        assert all(values[e] is not None for e in epcs), values
        assert values[0xE7] == 1000 and values[0xE1] == 0.01
        assert m.call(lambda rt: rt.extras["quirks"].quirks["opc-cap"].fired) == 1
    finally:
        m.stop()
