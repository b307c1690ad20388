"""SKSTACK IP line codec and the emulated dongle at the byte level (what any client sees)."""
from __future__ import annotations

import pytest

from sumame.drivers import skstack_protocol as sp
from sumame.drivers.emulated.air import Air
from sumame.drivers.emulated.wisun.dongle import EmulatedDongle
from sumame.drivers.emulated.timeline import Timeline
from sumame.firmware.core.clock import VirtualClock

METER_LL = "FE80:0000:0000:0000:021D:1291:0000:B5FB"
OWN_LL = "FE80:0000:0000:0000:021D:1291:0004:FFFF"

# A C2 session as real modules print it (reference §7.2), SA2=0, hex payloads.
C2_TRANSCRIPT = (
    "SKVER\r\nEVER 1.5.2\r\nOK\r\n"
    "ROPT\r\nOK 01\r"
    "SKSCAN 2 FFFFFFFF 6 0\r\nOK\r\n"
    f"EVENT 20 {OWN_LL} 0\r\n"
    "EPANDESC\r\n  Channel:31\r\n  Channel Page:09\r\n  Pan ID:B5FB\r\n  Addr:001D12910000B5FB\r\n"
    "  LQI:A8\r\n  Side:0\r\n  PairID:0112CE67\r\n"
    f"EVENT 22 {OWN_LL} 0\r\n"
    f"EVENT 21 {METER_LL} 0 02\r\n"
    f"EVENT 02 {METER_LL} 0\r\n"
    f"ERXUDP {METER_LL} FF02:0000:0000:0000:0000:0000:0000:0001 0E1A 0E1A 001D12910000B5FB 1 0 0012 "
    "108100000EF0010EF0017301D50401028801\r\n"
    f"EVENT 25 {METER_LL} 0\r\n"
    "FAIL ER10\r\n"
)


def test_host_parser_reads_real_c2_transcript_split_at_every_byte():
    parser = sp.HostParser(sp.Layout("c2", rssi=False, hex_payload=True))
    items = []
    for b in C2_TRANSCRIPT.encode():
        items += parser.feed(bytes([b]))
    kinds = [type(i).__name__ for i in items]
    assert kinds == ["Echo", "EVer", "Ok", "Echo", "Ok", "Echo", "Ok", "Event", "PanDesc", "Event", "Event",
                     "Event", "RxUdp", "Event", "Fail"]
    assert items[4] == sp.Ok("01")
    pd = items[8]
    assert (pd.channel, pd.pan_id, pd.addr, pd.lqi, pd.side, pd.pairing_id) == \
        (0x31, 0xB5FB, "001D12910000B5FB", 0xA8, 0, "0112CE67")
    assert items[10] == sp.Event(0x21, METER_LL, 0, 2)
    rx = items[12]
    assert rx.secured and rx.lport == 3610 and rx.payload.hex().upper() == "108100000EF0010EF0017301D50401028801"
    assert items[14].code == 10 and parser.garbage == 0


def test_binary_erxudp_payload_may_contain_crlf_and_rssi_token():
    payload = b"\x10\x81\r\n\x00ERXUDP \r\n"
    rx = sp.RxUdp(METER_LL, OWN_LL, 3610, 3610, "001D12910000B5FB", True, payload, 0x9C, 0)
    layout = sp.Layout("c2", rssi=True, hex_payload=False)
    wire = sp.fmt_erxudp(rx, layout) + b"OK\r\n"
    assert len(sp.fmt_erxudp(rx, layout).split(b" ", 10)) == 11
    parser = sp.HostParser(layout)
    items = parser.feed(wire[:50]) + parser.feed(wire[50:])
    assert items == [rx, sp.Ok()]
    se = sp.Layout("se", hex_payload=True)
    line = sp.fmt_erxudp(rx, se)
    assert len(line.split(b" ")) == 9
    assert sp.HostParser(se).feed(line)[0].payload == payload


def test_garbage_is_reported_not_raised():
    parser = sp.HostParser()
    items = parser.feed(b"\xff\xfe\r\nEVENT ZZ x\r\nFAIL ERxx\r\nOK\r\n")
    assert [type(i).__name__ for i in items] == ["Garbage", "Garbage", "Garbage", "Ok"]
    assert parser.garbage == 3


def test_device_parser_sendto_data_with_crlf_and_stray_empty_line():
    dp = sp.DeviceParser(sendto_args=6)
    data = b"ab\r\ncd\r\n\x00\x01\x02\x03\x04\x05"
    hdr = f"SKSENDTO 1 {METER_LL} 0E1A 1 0 {len(data):04X} ".encode()
    first = dp.feed(hdr[:20])
    assert first == [sp.EchoBytes(hdr[:20])]               # echoed as it arrives, before the line ends
    items = first + dp.feed(hdr[20:] + data[:3]) + dp.feed(data[3:] + b"\r\nSKVER\r\n")
    echo = b"".join(i.data for i in items if isinstance(i, sp.EchoBytes))
    assert echo == hdr + b"\r\nSKVER\r\n"                  # the header and the lines, never the data
    cmds = [i for i in items if not isinstance(i, sp.EchoBytes)]
    assert isinstance(cmds[0], sp.SendToHeader) and cmds[0].length == len(data)
    assert isinstance(cmds[1], sp.SendToData) and cmds[1].data == data
    assert cmds[1].tokens == ["1", METER_LL, "0E1A", "1", "0", f"{len(data):04X}"]
    assert [i.text for i in cmds[2:]] == ["", "SKVER"]


def test_fail_codes_map_to_typed_comms_errors():
    from sumame.hal.errors import CommsError
    for code, cls in [(4, sp.SkUnsupportedCommand), (5, sp.SkArgumentCount), (6, sp.SkArgumentValue),
                      (9, sp.SkUartInputError), (10, sp.SkExecutionFailed)]:
        err = sp.error_for("SKX", code)
        assert isinstance(err, cls) and isinstance(err, CommsError) and err.code == code
    assert type(sp.error_for("SKX", 1)) is sp.SkstackError


# --------------------------------------------------------------------------- the dongle, raw bytes


class Raw:
    """A client that writes bytes and reads what the dongle printed (virtual time)."""

    def __init__(self, personality="bp35c2"):
        self.timeline = Timeline(VirtualClock(1_700_000_000.0))
        self.air = Air(self.timeline)
        self.dongle = EmulatedDongle(self.air, self.timeline, personality=personality, seed=3,
                                     mac="001D129100040FFF")
        self.out = bytearray()
        self.dongle.attach_sink(self.out.extend)

    def send(self, data: bytes, run_s: float = 0.0) -> bytes:
        self.out.clear()
        self.dongle.feed(data)
        self.timeline.advance(self.timeline.now() + run_s)
        return bytes(self.out)


def test_echo_and_replies_per_personality():
    c2 = Raw("bp35c2")
    assert c2.send(b"SKVER\r\n") == b"SKVER\r\nEVER 1.5.2\r\nOK\r\n"
    assert c2.send(b"SKINFO\r\n") == (b"SKINFO\r\nEINFO FE80:0000:0000:0000:021D:1291:0004:0FFF "
                                      b"001D129100040FFF 21 FFFF 0\r\nOK\r\n")
    assert c2.send(b"ROPT\r") == b"ROPT\rOK 00\r"
    assert c2.send(b"WOPT 01\r") == b"WOPT 01\rOK\r"
    assert c2.send(b"SKRESET\r\n").endswith(b"OK\r\n")
    assert c2.send(b"ROPT\r") == b"ROPT\rOK 01\r"            # WOPT is kept in flash
    assert c2.send(b"SKLL64 001D129012345678\r\n") == \
        b"SKLL64 001D129012345678\r\nFE80:0000:0000:0000:021D:1290:1234:5678\r\n"
    assert c2.send(b"SKSREG SFE 0\r\n") == b"SKSREG SFE 0\r\nOK\r\n"
    assert c2.send(b"SKSREG S2\r\n") == b"ESREG 21\r\nOK\r\n"   # echo off now
    a1 = Raw("bp35a1")
    assert a1.send(b"SKVER\r\n") == b"SKVER\r\nEVER 1.2.10\r\nOK\r\n"
    assert a1.send(b"SKINFO\r\n").split(b"\r\n")[1].endswith(b" FFFE")
    dss = Raw("rl7023-dss")
    assert dss.send(b"ROPT\r") == b"ROPT\rFAIL ER04\r"


@pytest.mark.parametrize("personality,line,code", [
    ("bp35c2", b"SKFOO\r\n", 4),
    ("bp35c2", b"SKSCAN 2 FFFFFFFF 6\r\n", 5),        # SE syntax on a C2 module (S11 issue #2)
    ("bp35a1", b"SKSCAN 2 FFFFFFFF 6 0\r\n", 5),
    ("bp35c2", b"SKSREG S2 99\r\n", 6),
    ("bp35c2", b"SKSREG SZZ 1\r\n", 6),
    ("bp35c2", b"SKSETRBID 123\r\n", 6),
    ("bp35c2", b"SKSETPWD C SHORT\r\n", 6),
    ("bp35c2", b"SKSETPSK 0F 00112233445566778899AABBCCDDEEFF\r\n", 6),
    ("bp35c2", b"SKVER 1\r\n", 5),
    ("bp35c2", b"SKTERM\r\n", 10),
    ("bp35c2", b"SKLOAD\r\n", 10),
    ("bp35c2", b"SKJOIN FE80:0000:0000:0000:021D:1291:0000:0001\r\n", 10),   # no credentials
    ("bp35c2", b"SKSV\x01ER\r\n", 9),
])
def test_malformed_commands_get_real_fail_codes(personality, line, code):
    d = Raw(personality)
    assert d.send(line).endswith(f"FAIL ER{code:02d}\r\n".encode())
    assert d.send(b"SKVER\r\n").endswith(b"OK\r\n")            # and it keeps serving


def test_sendto_unused_handle_and_stray_crlf_after_data():
    d = Raw("bp35c2")
    out = d.send(f"SKSENDTO 3 {METER_LL} 0E1A 0 0 0002 ".encode() + b"hi")
    assert out.endswith(b"FAIL ER10\r\n")
    out = d.send(f"SKSENDTO 1 {METER_LL} 0E1A 0 0 0002 ".encode() + b"\r\n" + b"\r\n", run_s=1.0)
    assert out.startswith(f"SKSENDTO 1 {METER_LL} 0E1A 0 0 0002 \r\n".encode())
    # nobody on air answers the neighbour solicitation: no MAC ACK, no invented neighbour
    assert f"EVENT 21 {METER_LL} 0 01\r\nOK\r\n".encode() in out
    assert b"FAIL" not in out and b"EVENT 02" not in out and not d.dongle.stack.neighbours


def test_sksendto_sec1_without_session_fails_event21_01():
    d = Raw("bp35a1")
    d.send(b"SKADDNBR FE80:0000:0000:0000:021D:1291:0000:B5FB 001D12910000B5FB\r\n")
    out = d.send(f"SKSENDTO 1 {METER_LL} 0E1A 1 0002 ".encode() + b"hi", run_s=1.0)
    assert out.endswith(f"EVENT 21 {METER_LL} 01\r\nOK\r\n".encode())


def test_driver_opens_pyserial_urls_and_reports_typed_errors():
    from sumame.drivers.skstack import SkstackModem
    from sumame.hal.errors import DeviceNotFound
    m = SkstackModem("loop://")                  # a loop-back port: only our own bytes come back
    with pytest.raises(sp.SkTimeout):
        m.command("SKVER", timeout_s=0.2).wait(1.0)
    m.close()
    with pytest.raises(DeviceNotFound):
        SkstackModem("/dev/does-not-exist-wisun")


def test_ticket_lines_hold_the_response_text():
    from sumame.drivers.emulated.wisun.dongle_serve import InProcessPort
    from sumame.drivers.skstack import SkstackModem
    d = Raw("bp35c2")
    m = SkstackModem(InProcessPort(d.dongle, d.timeline), clock=d.timeline.now)
    assert m.command("SKVER").wait().lines == ["EVER 1.5.2"]
    assert m.command("SKSREG S3").wait().lines == ["ESREG FFFF"]
    assert m.link_local("001D129012345678").wait().value == "FE80:0000:0000:0000:021D:1290:1234:5678"


def test_meter_side_driver_sends_what_coordinator_scripts_send_before_skstart():
    """Echo off, beacon answers on, then SKSTART — asked for by the driver, not assumed."""
    from sumame.drivers.emulated.wisun.dongle_serve import InProcessPort
    from sumame.drivers.skstack import SkstackModem
    d = Raw("bp35a1")
    port = InProcessPort(d.dongle, d.timeline)
    sent = []
    write = port.write
    port.write = lambda data: (sent.append(bytes(data)), write(data))[1]
    m = SkstackModem(port, clock=d.timeline.now)
    m.identify()
    m.reset().wait()
    m.set_credentials("00112233445566778899AABBCCDDEEFF", "SUMAMEPASS01").wait()
    m.start_pan(33, 0x1234).wait()
    lines = [line for line in b"".join(sent).decode().split("\r\n") if line]
    start = lines.index("SKSTART")
    assert "SKSREG SFE 0" in lines[:start] and "SKSREG S15 1" in lines[:start]
    assert lines.index("SKSREG SFE 0") < lines.index("SKSREG S2 21") < lines.index("SKSREG S15 1") < start
    assert d.dongle.regs[0xFE] == 0                        # the dongle's echo really is off
