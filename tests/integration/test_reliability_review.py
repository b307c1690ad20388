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


def _first_boot_cut(op: int, seed: int):
    """A blank flash whose first boot is cut at flash operation ``op`` (NOR bit-level tear),
    then booted again; returns (flash, layout, notes of the second boot, its findings)."""
    from sumame.drivers.emulated.storage.flash import EmulatedFlash, nor_tear
    from sumame.firmware.core.clock import VirtualClock
    from sumame.firmware.metrology.registers import Retention
    from sumame.firmware.storage.store import Storage, plan_layout
    from sumame.hal.errors import PowerCut

    key, clock = bytes(range(32)), VirtualClock(1_775_055_600.0)
    retention = Retention(days_30=1, days_15=1, days_5=1, minutes_1=60)
    flash = EmulatedFlash(None, page_size=4096, page_count=64)
    layout = plan_layout(4096, 64, retention, event_pages=2, state_pages=2)
    flash.cut_power_at(op, nor_tear(seed))
    with pytest.raises(PowerCut):
        Storage(flash, layout, key, clock).boot(retention)
    store = Storage(flash, layout, key, clock)
    report = store.boot(retention)
    return flash, store, report


@pytest.mark.parametrize("op", [1, 2])        # 1: superblock body, 2: its commit byte
def test_a_cut_during_the_first_boot_superblock_write_is_no_corruption(op):
    """The first boot programs the superblock body, then its commit byte 0x00. A cut in the
    commit byte leaves some of its bits cleared (NOR): that is a torn write, like a journal's
    commit byte (issue 9 defect 3), not "CORRUPTION: superblock damaged" (an alarm event)."""
    from sumame.firmware.storage.store import StorageLayout
    for seed in range(40):
        flash, store, report = _first_boot_cut(op, seed)
        assert not [n for n in report.notes if n.startswith("CORRUPTION")], (op, seed, report.notes)
        assert StorageLayout.decode(flash.read(0, 4096)) == store.layout      # committed now


def test_a_bad_bit_in_an_erased_page_ahead_is_a_flash_fault_not_corruption():
    """A 0 bit in an erased page the ring has not reached yet touches no record: recovery
    reports it as a flash fault (one alarm; the page is erased before use), not as corruption of
    stored data, and a flash fault does not excuse a missing record (tamper still found)."""
    from sumame.drivers.emulated.storage.flash import EmulatedFlash
    from sumame.firmware.storage.journal import Journal

    key, ps = bytes(range(32)), 1024

    def journal(flash):
        return Journal(flash, 0, 8, name="t", key=key)

    flash = EmulatedFlash(None, page_size=ps, page_count=8)
    j = journal(flash)
    j.recover()
    payloads = [bytes([i]) * 20 for i in range(20)]          # pages 0 and 1
    for p in payloads:
        j.append(1, p)
    assert j._cur == 1
    flash.flip_bit(5 * ps + 300, 3)                          # page 5: erased, ahead
    rec = journal(flash).recover()
    assert [r.payload for r in rec.records] == payloads
    assert [f.kind for f in rec.findings] == ["flash-fault"], rec.findings
    j = journal(flash)
    j.recover()
    for i in range(20, 120):                                 # the ring reaches page 5 and on
        j.append(1, bytes([i]) * 20)
    assert [f.kind for f in journal(flash).recover().findings] == []
    # a record cut out of a page stays tamper when a bad bit sits in an erased page
    flash = EmulatedFlash(None, page_size=ps, page_count=8)
    j = journal(flash)
    j.recover()
    for p in payloads:
        j.append(1, p)
    victim = j._page_records[0][4]
    size = 38 + 20
    image = bytearray(flash.image())
    start = victim.offset
    image[start:ps] = image[start + size:ps] + b"\xff" * size
    flash.load_image(bytes(image))
    flash.flip_bit(5 * ps + 300, 3)
    kinds = [f.kind for f in journal(flash).recover().findings]
    assert "tamper" in kinds, kinds


def test_one_bit_flipped_in_the_monotonic_counter_is_no_rollback_tamper(tmp_path):
    from sumame.drivers.emulated.storage.counter import EmulatedBackupCounter
    from sumame.drivers.emulated.storage.flash import EmulatedFlash
    from sumame.firmware.core.clock import VirtualClock
    from sumame.firmware.metrology.registers import Retention, Snapshot
    from sumame.firmware.storage.store import Storage, plan_layout

    key, clock = bytes(range(32)), VirtualClock(1_775_055_600.0)
    retention = Retention(days_30=1, days_15=1, days_5=1, minutes_1=60)
    layout = plan_layout(4096, 64, retention, event_pages=2, state_pages=2)
    flash = EmulatedFlash(None, page_size=4096, page_count=64)
    path = tmp_path / "counter.bin"
    store = Storage(flash, layout, key, clock, counter=EmulatedBackupCounter(path))
    store.boot(retention)
    for m in range(29_584_260, 29_584_300):
        store.append_snapshot(Snapshot(m, 1, m * 10, 0, 0, 0, 0, 0, 0))
    raw = bytearray(path.read_bytes())
    raw[2] |= 0x40                                   # one bit of the 32-bit count flips up (+16384)
    path.write_bytes(bytes(raw))
    faults = []
    for _ in range(2):                               # every later boot
        counter = EmulatedBackupCounter(path)
        store = Storage(flash, layout, key, clock, counter=counter)
        report = store.boot(retention)
        assert not [f for f in report.findings() if f.kind == "tamper"], report.findings()
        faults.append([d for k, d in store._pending if k == "counter-fault"])
    assert len(faults[0]) == 1 and faults[1] == []   # one counter-fault alarm, then re-seated
    assert rollback_detected(flash, layout, key, clock, path, retention)   # and still catches one


def rollback_detected(flash, layout, key, clock, path, retention) -> bool:
    """Roll the flash back to an empty image under the re-seated counter: is tamper reported?"""
    from sumame.drivers.emulated.storage.counter import EmulatedBackupCounter
    from sumame.drivers.emulated.storage.flash import EmulatedFlash
    from sumame.firmware.storage.store import Storage

    old = EmulatedFlash(None, page_size=flash.page_size, page_count=flash.page_count)
    report = Storage(old, layout, key, clock, counter=EmulatedBackupCounter(path)).boot(retention)
    return bool([f for f in report.findings() if f.kind == "tamper"])
