"""Issue 16 items 4 and 10: the emulated SKSTACK dongle at byte level, as real modules behave
(virtual time, fast air, raw bytes in and out)."""
from __future__ import annotations

import pytest

from sumame.drivers.emulated.air import Air
from sumame.drivers.emulated.wisun.dongle import EmulatedDongle
from sumame.drivers.emulated.timeline import Timeline
from sumame.firmware.core.clock import VirtualClock

PEER_LL = "FE80:0000:0000:0000:021D:1291:0000:B5FB"     # nobody on air has this address
OWN_LL = "FE80:0000:0000:0000:021D:1291:0004:0FFF"


class Raw:
    def __init__(self, personality="bp35c2", flash_path=None, air=None, timeline=None, mac="001D129100040FFF"):
        self.timeline = timeline or Timeline(VirtualClock(1_700_000_000.0))
        self.air = air or Air(self.timeline)
        self.dongle = EmulatedDongle(self.air, self.timeline, personality=personality, seed=3, mac=mac,
                                     flash_path=flash_path)
        self.out = bytearray()
        self.dongle.attach_sink(self.out.extend)

    def send(self, data: bytes, run_s: float = 0.0) -> bytes:
        self.out.clear()
        self.dongle.feed(data)
        self.timeline.advance(self.timeline.now() + run_s)
        return bytes(self.out)


# --------------------------------------------------------------------------- line discipline
def test_c2_accepts_a_trailing_space_before_crlf_bp35a1_counts_it():
    c2 = Raw("bp35c2")
    assert c2.send(b"SKVER \r\n") == b"SKVER \r\nEVER 1.5.2\r\nOK\r\n"
    assert c2.send(b"SKSETRBID 00112233445566778899AABBCCDDEEFF\r\n").endswith(b"OK\r\n")
    assert c2.send(b"SKSCAN 2 FFFFFFFF 4 0 \r\n").endswith(b"OK\r\n")    # as a real EVER 1.5.2 (S14b)
    a1 = Raw("bp35a1")
    assert a1.send(b"SKVER \r\n").endswith(b"FAIL ER05\r\n")


def test_echo_is_byte_by_byte_before_the_line_ends():
    d = Raw("bp35c2")
    assert d.send(b"SK") == b"SK"
    assert d.send(b"V") == b"V"
    assert d.send(b"ER\r\n") == b"ER\r\nEVER 1.5.2\r\nOK\r\n"


def test_echo_never_shows_sksendto_data():
    d = Raw("bp35c2")
    out = d.send(f"SKSENDTO 1 {PEER_LL} 0E1A 0 0 0004 ".encode() + b"\x00\xffSK")
    assert out.startswith(f"SKSENDTO 1 {PEER_LL} 0E1A 0 0 0004 \r\n".encode())
    assert b"\x00\xffSK" not in out


# --------------------------------------------------------------------------- SKSENDTO header
def test_bad_datalen_fails_at_once_without_waiting_for_data_or_crlf():
    d = Raw("bp35c2")
    out = d.send(f"SKSENDTO 1 {PEER_LL} 0E1A 1 0 00ZZ ".encode())
    assert out.endswith(b"FAIL ER06\r\n")
    assert d.send(b"SKVER\r\n").endswith(b"OK\r\n")


def test_bad_header_field_fails_before_the_data_and_the_data_is_swallowed():
    d = Raw("bp35c2")
    assert d.send(f"SKSENDTO 7 {PEER_LL} 0E1A 1 0 0002 ".encode()).endswith(b"FAIL ER06\r\n")
    out = d.send(b"hi")                                          # the 2 data octets: nothing happens
    assert out == b"" and d.dongle.stats["sendto-data-swallowed"] == 1
    assert d.send(b"SKVER\r\n") == b"SKVER\r\nEVER 1.5.2\r\nOK\r\n"
    assert d.send(f"SKSENDTO 3 {PEER_LL} 0E1A 1 0 0002 ".encode()).endswith(b"FAIL ER10\r\n")  # unused handle


def test_sksendto_line_that_ends_before_datalen_is_an_argument_count_error():
    d = Raw("bp35c2")
    assert d.send(f"SKSENDTO 1 {PEER_LL} 0E1A 1 0 000E\r\n".encode()).endswith(b"FAIL ER05\r\n")
    a1 = Raw("bp35a1")          # C2 syntax on BP35A1: its 5th argument "0" is no DATALEN
    out = a1.send(f"SKSENDTO 1 {PEER_LL} 0E1A 1 0 000E ".encode())
    assert out == f"SKSENDTO 1 {PEER_LL} 0E1A 1 0 FAIL ER06\r\n000E ".encode()   # the rest: new input
    assert a1.send(b"\r\nSKVER\r\n").endswith(b"EVER 1.2.10\r\nOK\r\n")


# --------------------------------------------------------------------------- peers that do not answer
def test_unanswered_peer_gives_event_21_01_and_no_neighbour():
    d = Raw("bp35c2")
    out = d.send(f"SKSENDTO 1 {PEER_LL} 0E1A 0 0 0002 hi".encode(), run_s=1.0)
    assert f"EVENT 21 {PEER_LL} 0 01\r\nOK\r\n".encode() in out
    assert b"EVENT 02" not in out and not d.dongle.stack.neighbours
    assert d.send(b"SKTABLE 2\r\n") == b"SKTABLE 2\r\nENEIGHBOR\r\nOK\r\n"
    assert d.send(f"SKPING {PEER_LL}\r\n".encode(), run_s=1.0) == f"SKPING {PEER_LL}\r\nOK\r\n".encode()


def test_join_towards_a_missing_paa_never_invents_its_answer():
    d = Raw("bp35c2")
    d.send(b"SKSETRBID 00112233445566778899AABBCCDDEEFF\r\nSKSETPWD C 0123456789AB\r\n")
    out = d.send(f"SKJOIN {PEER_LL}\r\n".encode(), run_s=120.0)
    assert out.startswith(f"SKJOIN {PEER_LL}\r\nOK\r\nEVENT 21 {PEER_LL} 0 01\r\n".encode())
    assert b"EVENT 02" not in out and b"EVENT 25" not in out and b"ERXUDP" not in out
    assert f"EVENT 24 {PEER_LL} 0\r\n".encode() in out


def test_a_present_peer_is_resolved_with_21_02_then_02():
    tl = Timeline(VirtualClock(1_700_000_000.0))
    air = Air(tl)
    peer = Raw("bp35c2", air=air, timeline=tl, mac="001D12910000B5FB")
    d = Raw("bp35c2", air=air, timeline=tl)
    out = d.send(f"SKSENDTO 1 {PEER_LL} 0E1A 0 0 0002 hi".encode(), run_s=1.0)
    assert f"EVENT 21 {PEER_LL} 0 02\r\nOK\r\nEVENT 02 {PEER_LL} 0\r\n".encode() in out
    assert b"ERXUDP" in bytes(peer.out)
    out = d.send(f"SKSENDTO 1 {PEER_LL} 0E1A 0 0 0002 ho".encode(), run_s=1.0)
    assert f"EVENT 21 {PEER_LL} 0 00\r\nOK\r\n".encode() in out
    assert d.send(f"SKPING {PEER_LL}\r\n".encode(), run_s=1.0).endswith(f"EPONG {PEER_LL}\r\n".encode())


# --------------------------------------------------------------------------- ED scan
def test_ed_scan_order_with_c2_side_token():
    d = Raw("bp35c2")
    out = d.send(b"SKSCAN 0 00000003 2 0\r\n", run_s=1.0)
    assert out == (b"SKSCAN 0 00000003 2 0\r\nOK\r\n"
                   + f"EVENT 1F {OWN_LL} 0\r\n".encode() + b"EEDSCAN\r\n21 04 22 04\r\n")
    a1 = Raw("bp35a1", mac="001D129000040FFF")
    out = a1.send(b"SKSCAN 0 00000001 2\r\n", run_s=1.0)
    assert out == (b"SKSCAN 0 00000001 2\r\nOK\r\nEVENT 1F FE80:0000:0000:0000:021D:1290:0004:0FFF\r\n"
                   b"EEDSCAN\r\n21 04\r\n\r\n")            # 1.2.10 adds an empty line (S7)


# --------------------------------------------------------------------------- per personality
@pytest.mark.parametrize("personality,ruart", [("bp35c2", b"OK 80\r"), ("bp35a1", b"OK 00\r"),
                                               ("rl7023-dss", b"OK 80\r")])
def test_ruart_answers_per_personality(personality, ruart):
    assert Raw(personality).send(b"RUART\r") == b"RUART\r" + ruart


def test_scan_duration_range_and_han_tables_per_model():
    c2, a1 = Raw("bp35c2"), Raw("bp35a1")
    assert c2.send(b"SKSCAN 2 FFFFFFFF F 0\r\n").endswith(b"FAIL ER06\r\n")       # D is 0-14
    assert a1.send(b"SKSCAN 2 FFFFFFFF F\r\n").endswith(b"FAIL ER06\r\n")
    assert c2.send(b"SKTABLE 9\r\n") == b"SKTABLE 9\r\nENBR\r\nOK\r\n"
    assert c2.send(b"SKTABLE A\r\n") == b"SKTABLE A\r\nESEC\r\nOK\r\n"
    assert a1.send(b"SKTABLE 9\r\n").endswith(b"FAIL ER06\r\n")                   # single-hop build
    assert a1.send(b"SKTABLE A\r\n").endswith(b"FAIL ER06\r\n")
    assert c2.send(b"SKPARAM 1 1 3\r\n").endswith(b"OK\r\n")
    assert a1.send(b"SKPARAM 1 1 3\r\n").endswith(b"FAIL ER04\r\n")


def test_tcp_family_as_on_a_route_b_link():
    d = Raw("bp35a1", mac="001D129000040FFF")
    assert d.send(b"SKTCPPORT 2 0E1B\r\n").endswith(b"OK\r\n")
    assert d.send(b"SKTABLE E\r\n") == (b"SKTABLE E\r\nEPORT\r\n3610\r\n716\r\n0\r\n0\r\n0\r\n0\r\n\r\n"
                                        b"3610\r\n3611\r\n0\r\n0\r\nOK\r\n")
    out = d.send(f"SKCONNECT {PEER_LL} 0E1A 0E1B\r\n".encode(), run_s=1.0)
    assert out.endswith(b"OK\r\nETCP 3 0\r\n")                                    # nobody accepts
    assert d.send(f"SKCONNECT {PEER_LL} 0E1A 1234\r\n".encode()).endswith(b"FAIL ER06\r\n")
    assert d.send(b"SKSEND 1 0005 hello\r\n").endswith(b"FAIL ER10\r\n")
    assert d.send(b"SKCLOSE 1\r\n").endswith(b"FAIL ER10\r\n")


def test_manual_security_commands_install_a_link_key():
    d = Raw("bp35c2")
    assert d.send(b"SKSETKEY 01 00112233445566778899AABBCCDDEEFF\r\n").endswith(b"OK\r\n")
    assert d.send(f"SKREGDEV {PEER_LL}\r\n".encode()).endswith(b"OK\r\n")
    assert d.send(f"SKSECENABLE 1 {PEER_LL} 001D12910000B5FB\r\n".encode()).endswith(b"OK\r\n")
    key = d.dongle.stack.keys[bytes.fromhex("001D12910000B5FB")]
    assert key.key == bytes.fromhex("00112233445566778899AABBCCDDEEFF") and key.index == 1
    assert d.send(f"SKRMDEV {PEER_LL}\r\n".encode()).endswith(b"OK\r\n")
    assert d.send(f"SKRMDEV {PEER_LL}\r\n".encode()).endswith(b"FAIL ER10\r\n")
    assert d.send(b"SKRMKEY 01\r\n").endswith(b"OK\r\n")
    assert d.send(b"SKRMKEY 01\r\n").endswith(b"FAIL ER10\r\n")


def test_deep_sleep_ignores_the_uart_until_wkup():
    d = Raw("bp35c2")
    assert d.send(b"SKDSLEEP\r\n") == b"SKDSLEEP\r\nOK\r\n"
    assert d.send(b"SKVER\r\n") == b""                               # asleep: UART input ignored
    assert d.dongle.stack not in d.air.radios                        # radio off
    d.out.clear()
    d.dongle.wake()
    assert bytes(d.out) == b"EVENT C0\r\n"
    assert d.send(b"SKVER\r\n").endswith(b"OK\r\n")
    assert d.send(b"SKDSLEEP 1\r\n").endswith(b"FAIL ER05\r\n")


# --------------------------------------------------------------------------- flash (item 4)
def test_flash_state_survives_a_restart(tmp_path):
    path = tmp_path / "hems.flash.json"
    d = Raw("bp35c2", flash_path=path, mac=None)
    mac = d.dongle.mac_hex
    assert d.send(b"ROPT\r") == b"ROPT\rOK 00\r"
    d.send(b"WOPT 01\r")
    d.send(b"WUART 03\r")
    d.send(b"SKSREG S2 2B\r\nSKSREG S3 1234\r\nSKSREG SFF 1\r\nSKSAVE\r\n")
    again = Raw("bp35c2", flash_path=path, mac=None)                 # a new process, same state dir
    assert again.dongle.mac_hex == mac                                 # the factory address
    assert again.send(b"ROPT\r") == b"ROPT\rOK 01\r"                   # hex ERXUDP kept
    assert again.send(b"RUART\r") == b"RUART\rOK 03\r"
    assert again.send(b"SKSREG S2\r\n") == b"SKSREG S2\r\nESREG 2B\r\nOK\r\n"   # SFF=1 auto-load
    again.send(b"SKERASE\r\n")
    third = Raw("bp35c2", flash_path=path, mac=None)
    assert third.send(b"SKSREG S2\r\n").endswith(b"ESREG 21\r\nOK\r\n")
    assert third.send(b"SKLOAD\r\n").endswith(b"FAIL ER10\r\n")
    assert third.send(b"ROPT\r") == b"ROPT\rOK 01\r"


def test_a_damaged_flash_file_gives_the_factory_state(tmp_path, caplog):
    path = tmp_path / "d.flash.json"
    path.write_text("{not json")
    d = Raw("bp35c2", flash_path=path)
    assert d.send(b"ROPT\r") == b"ROPT\rOK 00\r"
    assert "unreadable" in caplog.text


def test_closing_an_in_process_port_mid_line_clears_the_line_buffer():
    from sumame.drivers.emulated.wisun.dongle_serve import InProcessPort

    d = Raw("bp35c2")
    port = InProcessPort(d.dongle, d.timeline, timeout=0.1)
    port.write(b"SKV")
    port.close()
    again = InProcessPort(d.dongle, d.timeline, timeout=0.1)
    again.write(b"ER\r\n")
    assert again.read(64).endswith(b"FAIL ER04\r\n")
    assert d.dongle.stats["host-closed-mid-line"] == 1


def test_a_close_while_the_half_line_is_still_on_the_uart_clears_it_with_real_timing():
    """Real timing (the ``emulate`` default): the host's bytes reach the module only after their
    UART time, so a close right after a half line must clear it once those bytes are in, not
    before they arrive (else the stale half line survives and spoils the next command)."""
    from sumame.drivers.emulated.wisun.dongle_timing import REAL

    timeline = Timeline(VirtualClock(1_700_000_000.0))
    d = EmulatedDongle(Air(timeline), timeline, personality="bp35c2", seed=3, timing=REAL)
    out = bytearray()
    d.attach_sink(out.extend)
    d.feed(b"SKV")
    d.host_closed()                    # closed (and reopened) before the 3 octets crossed the UART
    d.feed(b"SKVER\r\n")
    timeline.advance(timeline.now() + 0.5)
    assert bytes(out) == b"SKVSKVER\r\nEVER 1.5.2\r\nOK\r\n"      # echo of both, then only SKVER runs
    assert d.stats["host-closed-mid-line"] == 1
