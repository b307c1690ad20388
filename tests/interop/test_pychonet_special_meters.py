"""pychonet (PyPI, unmodified) discovers and reads the emulated special meters over ECHONET Lite on
loopback UDP 3610: the distributed generator's electric energy meter 0x028E01 beside an EV
charger/discharger 0x027E01 and a household PV 0x027901; values are checked against the meters'
own registers and histories (which come from the site load model)."""
import asyncio
import random
import struct

import pytest

pychonet = pytest.importorskip("pychonet", reason="pychonet is in the 'test' extra: pip install -e '.[test]'")
from pychonet.DistributedGeneratorElectricEnergyMeter import DistributedGeneratorElectricEnergyMeter  # noqa: E402
from pychonet.ElectricVehicleChargerDischarger import ElectricVehicleChargerDischarger  # noqa: E402
from pychonet.HomeSolarPower import HomeSolarPower  # noqa: E402
from pychonet_client import pychonet_client  # noqa: E402

from sumame.drivers.emulated.iot.special.meter import (NO_DATA, EchonetUdpServer, SpecialMeter,  # noqa: E402
                                                       SpecialMeterSpec, parse_date_time)
from sumame.drivers.emulated.iot.special.site import SiteModel  # noqa: E402
from sumame.drivers.emulated.timeline import Timeline  # noqa: E402
from sumame.firmware.core.clock import VirtualClock  # noqa: E402

pytestmark = pytest.mark.interop
START = 1775055600.0            # 2026-04-02 00:00 JST


@pytest.fixture
def served():
    clock = VirtualClock(START)
    timeline = Timeline(clock)
    site = SiteModel(seed=2)
    ev = SpecialMeter(SpecialMeterSpec("EVC00001", "ev", bytes.fromhex("02005e0a0b0c")), site, timeline)
    pv = SpecialMeter(SpecialMeterSpec("PVI00001", "pv", bytes.fromhex("02005e0a0b0d"), tolerance_class=5), site, timeline)
    timeline.advance(START + 36 * 3600 + 600)            # a day and a half of history (to 12:10 the next day)
    base = random.randint(20, 240)
    servers = []
    try:
        for i, m in enumerate((ev, pv)):
            servers.append(EchonetUdpServer(m, f"127.0.0.{base + i}").start())
    except OSError as exc:
        pytest.skip(f"cannot bind 127.0.0.x:3610 on loopback: {exc}")
    yield (ev, pv), servers
    for s in servers:
        s.stop()


def test_pychonet_discovers_and_reads_the_special_meters(served):
    (ev, pv), (ev_node, pv_node) = served

    async def scenario():
        udp, api, _ = await pychonet_client()
        try:
            for node, device_class in ((ev_node, 0x7E), (pv_node, 0x79)):
                assert await api.discover(node.address)
                instances = api.state[node.address]["instances"][0x02]
                assert 0x8E in instances and device_class in instances
                assert await api.getAllPropertyMaps(node.address, 0x02, 0x8E, 0x01)
                assert await api.getAllPropertyMaps(node.address, 0x02, device_class, 0x01)
            meter = DistributedGeneratorElectricEnergyMeter(ev_node.address, api)
            got = await meter.update([0xE0, 0xE2, 0xD4])
            regs = ev.registers_wh()
            assert got[0xE0] == regs[0] and got[0xE2] == regs[1] and got[0xD4] == 0.001
            raw = api.state[ev_node.address]["instances"][0x02][0x8E][0x01]
            assert await api.echonetMessage(ev_node.address, 0x02, 0x8E, 0x01, 0x62,
                                            [{"EPC": e} for e in (0xD0, 0xD1, 0xD2, 0xD3, 0xDB, 0xE6, 0xE7)])
            assert raw[0xD0] == b"\x02\x7e\x00" and raw[0xD1] == ev.spec.device_id and raw[0xD2] == b"\x03"
            assert raw[0xD3] == b"\x00\x07" and raw[0xDB] == b"\x00"            # never synchronised yet
            slot, (in_wh, out_wh) = ev.latest()
            assert parse_date_time(raw[0xE6][:7]) == slot and struct.unpack(">I", raw[0xE6][7:])[0] == in_wh
            assert struct.unpack(">I", raw[0xE7][7:])[0] == out_wh
            # yesterday's 48 slots (Set D5 = 1, Get E1): all measured but the one before metering began
            assert await api.echonetMessage(ev_node.address, 0x02, 0x8E, 0x01, 0x61, [{"EPC": 0xD5, "PDC": 2, "EDT": 1}])
            assert await api.echonetMessage(ev_node.address, 0x02, 0x8E, 0x01, 0x62, [{"EPC": 0xE1}])
            hist = raw[0xE1]
            assert hist[:2] == b"\x00\x01" and len(hist) == 194
            values = struct.unpack(">48I", hist[2:])
            assert values[0] == NO_DATA                                   # 00:00 of day 1: before metering
            assert values[1:] == tuple(ev.history[int(START) + 1800 * i][0] for i in range(1, 48))
            charger = ElectricVehicleChargerDischarger(ev_node.address, api)
            car = await charger.update([0xD8, 0xD6, 0xC7])
            assert car[0xD8] == ev.registers_wh()[0] and car[0xD6] == ev.registers_wh()[1]
            solar = HomeSolarPower(pv_node.address, api)
            sun = await solar.update([0xE0, 0xE1])
            assert sun[0xE1] == pv.registers_wh()[1] > 0                       # PV output = AC output
            assert sun[0xE0] == int(-pv.site.device_w("pv", pv.timeline.now())) > 0  # midday: generating
            raw_pv = api.state[pv_node.address]["instances"][0x02][0x8E][0x01]
            assert await api.echonetMessage(pv_node.address, 0x02, 0x8E, 0x01, 0x62, [{"EPC": 0xD0}, {"EPC": 0xD2}])
            assert raw_pv[0xD0] == b"\x02\x79\x00" and raw_pv[0xD2] == b"\x05"
            # a time setting from the HEMS side (DA) is what the terminal does: DB becomes 0x01
            assert await api.echonetMessage(ev_node.address, 0x02, 0x8E, 0x01, 0x61,
                                            [{"EPC": 0xDA, "PDC": 3, "EDT": 0x0C0A00}])
            assert await api.echonetMessage(ev_node.address, 0x02, 0x8E, 0x01, 0x62, [{"EPC": 0xDB}])
            assert raw[0xDB] == b"\x01"
        finally:
            udp.close() if hasattr(udp, "close") else None

    asyncio.run(scenario())
