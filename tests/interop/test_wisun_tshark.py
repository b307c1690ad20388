"""tshark (Wireshark) dissects the virtual air's pcap: wpan / 6lowpan / ipv6 / udp / pana / eap
without malformed packets, and decrypts our CCM* frames with the PANA-derived link key."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from sumame.drivers.emulated.air import Air, AirConfig
from sumame.drivers.emulated.wisun.dongle import EmulatedDongle
from sumame.drivers.emulated.wisun.dongle_serve import InProcessPort
from sumame.drivers.emulated.timeline import Timeline
from sumame.drivers.skstack import SkstackModem
from sumame.firmware.core.clock import VirtualClock
from sumame.hal.radio import UdpReceived

pytestmark = [pytest.mark.interop,
              pytest.mark.skipif(shutil.which("tshark") is None,
                                 reason="tshark not installed (apt-get install tshark; .ci/run installs it)")]

RBID = "0123456789ABCDEF0123456789ABCDEF"
PASSWORD = "0123456789AB"


def tshark(pcap, *args):
    res = subprocess.run(["tshark", "-n", "-r", str(pcap), *args], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return [line for line in res.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    pcap = tmp_path_factory.mktemp("air") / "route-b.pcap"
    timeline = Timeline(VirtualClock(1_700_000_000.0))
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
    hems.send_udp(peer, 3610, bytes.fromhex("1081000105FF010288016201E700")).wait()
    rx = meter.wait_event(lambda e: isinstance(e, UdpReceived) and e.dst_port == 3610, 5)
    meter.send_udp(rx.src, 3610, bytes.fromhex("1081000102880105FF017201E704000000E4")).wait()
    hems.wait_event(lambda e: isinstance(e, UdpReceived) and e.dst_port == 3610, 5)
    key = list(meter_d.stack.keys.values())[0]
    air.close()
    return pcap, key


def test_no_malformed_packets_and_full_protocol_chain(capture):
    pcap, _ = capture
    assert tshark(pcap, "-Y", "_ws.malformed || _ws.expert.severity >= error") == []
    protocols = tshark(pcap, "-T", "fields", "-e", "frame.protocols")
    assert "wpan:6lowpan:ipv6:udp:pana" in protocols
    assert sum(p.endswith("pana:eap") for p in protocols) == 5      # PSK-1..4 + EAP-Success
    assert tshark(pcap, "-Y", "wpan.fcs_ok == 0") == []
    psk = tshark(pcap, "-Y", "eap.type == 47", "-T", "fields", "-e", "eap.psk.flags.t")
    assert [int(x, 0) for x in psk] == [0, 1, 2, 3]
    ids = tshark(pcap, "-Y", "eap.psk.id_p", "-T", "fields", "-e", "eap.psk.id_p")
    assert ids == [RBID]


def test_tshark_decrypts_ccm_star_frames_with_the_link_key(capture):
    pcap, key = capture
    uat = f'uat:ieee802154_keys:"{key.key.hex()}","{key.index}","No hash"'
    rows = tshark(pcap, "-o", uat, "-Y", "udp.port == 3610", "-T", "fields", "-e", "wpan.aux_sec.sec_level",
                  "-e", "data.data")
    payloads = [r.split("\t") for r in rows]
    assert ["0x05", "1081000105ff010288016201e700"] in payloads
    assert ["0x05", "1081000102880105ff017201e704000000e4"] in payloads
    assert tshark(pcap, "-o", uat, "-Y", "_ws.malformed || _ws.expert.severity >= error") == []
