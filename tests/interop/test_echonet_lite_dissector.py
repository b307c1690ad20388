"""sumame's Wireshark Lua dissector (tools/wireshark/echonet_lite.lua) run by tshark on a Wi-SUN
pcap the emulated air wrote: the inner UDP 3610 payloads (decrypted with the PANA link key)
decode to header, ESV, OPC and named EPC/PDC/EDT, the values matching what the node sent."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sumame.drivers.emulated.air import Air, AirConfig
from sumame.drivers.emulated.wisun.dongle import EmulatedDongle
from sumame.drivers.emulated.wisun.dongle_serve import InProcessPort
from sumame.drivers.emulated.timeline import Timeline
from sumame.drivers.skstack import SkstackModem
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.net import echonet as el
from sumame.firmware.routes.broute.node import EchonetNode
from sumame.firmware.routes.broute.service import BRouteOptions, build_objects
from sumame.hal.radio import UdpReceived
from sumame.tools.hems.sample_readings import SampleReadings

pytestmark = pytest.mark.interop

LUA = Path(__file__).resolve().parents[2] / "tools" / "wireshark" / "echonet_lite.lua"
RBID = "0123456789ABCDEF0123456789ABCDEF"
PASSWORD = "0123456789AB"
REQUESTS = [
    el.Frame(0x0101, el.CONTROLLER, el.Eoj.of(0x028801), el.Esv.GET,
             (el.Property(0xE7), el.Property(0xE8), el.Property(0xD3), el.Property(0x9F))),
    el.Frame(0x0102, el.CONTROLLER, el.NODE_PROFILE, el.Esv.GET, (el.Property(0xD6),)),
    el.Frame(0x0103, el.CONTROLLER, el.Eoj.of(0x028801), el.Esv.SETGET,
             (el.Property(0xE5, b"\x01"),), (el.Property(0xE2),)),
]


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    if shutil.which("tshark") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("tshark is missing under CI (.ci/run installs it)")
        pytest.skip("tshark not installed (apt-get install tshark; .ci/run installs it)")
    pcap = tmp_path_factory.mktemp("air") / "route-b.pcap"
    clock = VirtualClock(1_700_000_000.0)
    timeline = Timeline(clock)
    readings = SampleReadings(clock)
    node = EchonetNode(build_objects(readings, BRouteOptions()))
    air = Air(timeline, AirConfig(mode="accurate", seed=3), pcap_path=str(pcap))
    meter_d = EmulatedDongle(air, timeline, personality="bp35c2", seed=1, mac="001D12910003B5FB")
    hems_d = EmulatedDongle(air, timeline, personality="bp35a1", seed=2)
    meter = SkstackModem(InProcessPort(meter_d, timeline), clock=timeline.now)
    hems = SkstackModem(InProcessPort(hems_d, timeline), clock=timeline.now)
    for m in (meter, hems):
        m.identify()
        m.set_credentials(RBID, PASSWORD)
    meter.start_pan(0x31, 0xB5FB).wait()
    pan = hems.scan_and_wait(duration=3, channel_mask=1 << (0x31 - 33))[0]
    peer = hems.join_and_wait(pan).peer
    replies = []
    for request in REQUESTS:
        hems.send_udp(peer, 3610, el.encode(request)).wait()
        rx = meter.wait_event(lambda e: isinstance(e, UdpReceived) and e.dst_port == 3610, 5)
        [reply], _ = node.handle(el.decode(rx.payload))
        replies.append(reply)
        meter.send_udp(rx.src, 3610, el.encode(reply)).wait()
        hems.wait_event(lambda e: isinstance(e, UdpReceived) and e.dst_port == 3610, 5)
    key = list(meter_d.stack.keys.values())[0]
    air.close()
    return pcap, key, replies, readings


def tshark(pcap, key, *args):
    uat = f'uat:ieee802154_keys:"{key.key.hex()}","{key.index}","No hash"'
    res = subprocess.run(["tshark", "-n", "-X", f"lua_script:{LUA}", "-o", uat, "-r", str(pcap), *args],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return [line.split("\t") for line in res.stdout.splitlines() if line.strip()]


def test_dissector_decodes_header_esv_and_named_properties(capture):
    pcap, key, replies, readings = capture
    rows = tshark(pcap, key, "-Y", "echonet_lite", "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|",
                  "-e", "echonet_lite.ehd1", "-e", "echonet_lite.tid", "-e", "echonet_lite.seoj",
                  "-e", "echonet_lite.deoj", "-e", "echonet_lite.esv", "-e", "echonet_lite.opc",
                  "-e", "echonet_lite.epc", "-e", "echonet_lite.pdc", "-e", "echonet_lite.epc_name")
    assert len(rows) == 6, rows                    # 3 requests + 3 answers, nothing else on 3610
    get, get_res = rows[0], rows[1]
    assert get[:6] == ["0x10", "0x0101", "0x05ff01", "0x028801", "0x62", "4"]
    assert get_res[:6] == ["0x10", "0x0101", "0x028801", "0x05ff01", "0x72", "4"]
    assert get_res[6].split("|") == ["0xe7", "0xe8", "0xd3", "0x9f"]
    assert get_res[7].split("|") == [str(p.pdc) for p in replies[0].props]
    assert get_res[8].split("|") == ["Measured instantaneous electric power", "Measured instantaneous currents",
                                     "Coefficient", "Get property map"]
    assert rows[3][2] == "0x0ef001" and rows[3][8] == "Self-node instance list S"
    setget = rows[5]
    assert setget[4] == "0x7e" and setget[6].split("|") == ["0xe5", "0xe2"]
    assert setget[8].split("|") == ["Day for historical data 1", "Historical cumulative energy 1 (normal)"]


def test_dissector_values_match_what_the_node_sent(capture):
    pcap, key, replies, _ = capture
    rows = tshark(pcap, key, "-Y", "echonet_lite.esv == 0x72", "-T", "fields", "-E", "occurrence=a",
                  "-E", "aggregator=|", "-e", "echonet_lite.edt", "-e", "echonet_lite.value",
                  "-e", "echonet_lite.seoj.class")
    edts, values, cls = rows[0]
    props = replies[0].props
    assert edts.split("|") == [p.edt.hex() for p in props]
    w = int.from_bytes(props[0].edt, "big", signed=True)
    r_a = int.from_bytes(props[1].edt[:2], "big", signed=True) / 10
    value = values.split("|")
    assert value[0] == f"{w} W" and value[1].startswith(f"R {r_a:.1f} A")
    assert value[2] == "1" and value[3].startswith(f"{len(el.decode_property_map(props[3].edt))}: 80 81 82")
    assert cls == "0x0288"
    assert rows[1][0] == replies[1].props[0].edt.hex() == "01028801"
    assert tshark(pcap, key, "-Y", "_ws.malformed || _ws.expert.severity >= error") == []


def test_a_pcap_comes_with_its_link_keys_so_a_user_can_decrypt_it(capture):
    """Issue 16 item 7: a user of ``sumame emulate --pcap air.pcap`` has no other way to learn the
    PANA-derived link key, so the air writes each installed key beside the pcap
    (``air.pcap.keys``, Wireshark's ``ieee802154_keys`` UAT format); with only that file tshark
    decrypts the inner UDP and the dissector decodes every ECHONET Lite frame."""
    pcap, key, _, _ = capture
    keys = Path(f"{pcap}.keys")
    assert keys.is_file(), "no key log beside the pcap"
    lines = [line for line in keys.read_text().splitlines() if line and not line.startswith("#")]
    assert f'"{key.key.hex()}","{key.index}","No hash"' in lines
    res = subprocess.run(["tshark", "-n", "-X", f"lua_script:{LUA}",
                          *[arg for line in lines for arg in ("-o", f"uat:ieee802154_keys:{line}")],
                          "-r", str(pcap), "-Y", "echonet_lite", "-T", "fields", "-e", "echonet_lite.esv"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["0x62", "0x72", "0x62", "0x72", "0x6e", "0x7e"]
