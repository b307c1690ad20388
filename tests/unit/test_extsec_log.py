"""External-connection log (firmware/security): entry codec, batching to the extlog journal,
bounded ring, reboot and power cuts at every flash operation (no torn entry served, no entry of
a committed batch lost, no false alarm), the anomaly monitor and the command counter."""
import pytest

from sumame.drivers.emulated.storage.flash import EmulatedFlash, nor_tear
from sumame.firmware.core.events import Severity
from sumame.firmware.metrology.registers import Retention
from sumame.firmware.security.extlog import Direction, Entry, ExternalLog, Verdict, unpack_batch
from sumame.firmware.security.monitor import AnomalyMonitor
from sumame.firmware.security.options import ExtSecOptions
from sumame.firmware.storage.store import Storage, StorageLayout, plan_layout
from sumame.hal.errors import PowerCut

KEY = bytes(range(32))
PAGE = 512


class Clock:
    def __init__(self, t=1775055600.0):
        self.t = t

    def now(self):
        return self.t


class Events:
    def __init__(self):
        self.records = []

    def record(self, kind, source="", detail="", severity=Severity.INFO):
        self.records.append((kind, source, detail, severity))

    def kinds(self):
        return [r[0] for r in self.records]


def layout(ext_pages=3):
    return StorageLayout(PAGE, {"state": (1, 2), "extlog": (3, ext_pages)})


def storage(flash, lay=None):
    st = Storage(flash, lay or layout(), KEY, Clock())
    report = st.boot(Retention())
    return st, report


def entry(i, verdict=Verdict.ACCEPTED):
    return Entry(1775055600.0 + i, f"ip:192.168.1.{i % 250}", Direction(i % 2), 10 + i % 90, verdict)


def test_entry_roundtrip_and_bad_batch_is_an_error():
    es = [entry(i, v) for i, v in enumerate(Verdict)]
    assert unpack_batch(b"".join(e.pack() for e in es)) == es
    with pytest.raises(ValueError):
        unpack_batch(es[0].pack()[:-3])


def test_plan_layout_adds_extlog_after_the_others_and_omits_it_when_it_does_not_fit():
    full = plan_layout(4096, 512, Retention())
    assert list(full.partitions)[-1] == "extlog" and full.partitions["extlog"][1] == 8
    first, count = full.partitions["extlog"]
    tight = plan_layout(4096, first + 4, Retention())
    assert "extlog" not in tight.partitions and tight.partitions["short"] == full.partitions["short"]


def test_frames_are_batched_one_flash_record_per_batch_and_survive_a_reboot():
    flash = EmulatedFlash(None, page_size=PAGE, page_count=8)
    st, _ = storage(flash)
    log = ExternalLog(st, flush_entries=4)
    ops = flash.ops
    for i in range(3):
        log.append(entry(i))
    assert flash.ops == ops and log.pending == 3            # nothing written per frame
    log.append(entry(3))                                     # 4th: one batch
    assert log.pending == 0 and log.written == 4 and flash.ops - ops <= 3
    log.append(entry(4))                                     # pending, lost at a power cut
    st2, report = storage(flash)
    log2 = ExternalLog(st2)
    log2.restore(report.extlog)
    assert list(log2.entries) == [entry(i) for i in range(4)]


def test_ring_is_bounded_oldest_batches_go_first():
    flash = EmulatedFlash(None, page_size=PAGE, page_count=8)
    st, _ = storage(flash)
    log = ExternalLog(st, flush_entries=8, ram_entries=50)
    for i in range(400):
        log.append(entry(i))
    assert len(log.entries) == 50 and log.entries[-1] == entry(399)
    st2, report = storage(flash)
    log2 = ExternalLog(st2, ram_entries=10_000)
    log2.restore(report.extlog)
    got = list(log2.entries)
    assert 0 < len(got) < 400 and got == [entry(i) for i in range(400 - len(got), 400)]   # a newest suffix
    assert not [f for f in report.findings() if f.kind != "torn"]


def test_power_cut_at_every_flash_operation_serves_no_torn_entry_loses_no_committed_batch_no_alarm():
    flash = EmulatedFlash(None, page_size=PAGE, page_count=8)
    storage(flash)
    base = flash.image()
    n_batches, per = 30, 6                                    # 30 batches over a 3-page ring: reclaims too
    probe = EmulatedFlash(None, page_size=PAGE, page_count=8)
    probe.load_image(base)
    st, _ = storage(probe)
    start = probe.ops
    log = ExternalLog(st, flush_entries=per)
    for i in range(n_batches * per):
        log.append(entry(i))
    total_ops = probe.ops - start
    assert total_ops > n_batches
    for cut in range(1, total_ops + 1):
        for torn in (0.5, nor_tear(cut)):
            f = EmulatedFlash(None, page_size=PAGE, page_count=8)
            f.load_image(base)
            st, _ = storage(f)
            log = ExternalLog(st, flush_entries=per)
            committed = 0
            f.cut_power_at(f.ops + cut, torn=torn)
            try:
                for i in range(n_batches * per):
                    log.append(entry(i))
                    committed = log.written
            except PowerCut:
                pass
            f.cut_power_at(10 ** 9)
            st2, report = storage(f)
            bad = [x for x in report.findings() if x.kind != "torn"]
            assert not bad, f"cut {cut}: false alarm {bad}"
            got = ExternalLog(st2, ram_entries=10_000)
            got.restore(report.extlog)
            assert not got.notes
            rows = list(got.entries)
            newest = rows[-1].at - 1775055600.0 + 1 if rows else 0
            assert newest >= committed, f"cut {cut}: committed entry lost ({newest} < {committed})"
            assert newest <= committed + per                    # only the batch in flight may appear
            assert rows == [entry(i) for i in range(int(newest) - len(rows), int(newest))]   # whole, in order


def opts(**kw):
    return ExtSecOptions(**{"rate_limit_per_s": 1.0, "rate_window_s": 10.0, "auth_failures": 3, **kw})


def test_monitor_rate_alarm_once_per_hold_and_not_below_the_limit():
    ev, mon = Events(), AnomalyMonitor(None, opts())
    mon.events = ev
    for i in range(10):                                      # exactly the limit: 10 in 10 s
        mon.observe("ip:10.0.0.1", Verdict.ACCEPTED, 100.0 + i)
    assert ev.kinds() == []
    for i in range(40):
        mon.observe("ip:10.0.0.2", Verdict.RATE_LIMITED, 200.0 + i * 0.1)
    assert ev.kinds() == ["ext-rate-alarm"] and ev.records[0][3] is Severity.ALARM
    assert "ip:10.0.0.2" in ev.records[0][2]


def test_monitor_auth_failures_unknown_peer_and_known_peers():
    ev = Events()
    mon = AnomalyMonitor(ev, opts(known_peers=("ip:10.0.0.9",)))
    mon.observe("iot:GAS00001", Verdict.AUTH_FAILED, 0)
    mon.observe("iot:GAS00001", Verdict.AUTH_FAILED, 1)
    assert "ext-auth-alarm" not in ev.kinds()
    mon.observe("iot:GAS00001", Verdict.AUTH_FAILED, 2)
    assert ev.kinds().count("ext-auth-alarm") == 1
    mon.observe("iot:0011223344556677", Verdict.UNKNOWN_PEER, 3)
    mon.observe("ip:10.0.0.9", Verdict.ACCEPTED, 4)          # known: no alarm
    mon.observe("ip:10.0.0.66", Verdict.ACCEPTED, 5)         # not known: alarm
    assert [r[2].split(":")[0] + ":" + r[2].split(":")[1] for r in ev.records if r[0] == "ext-unknown-peer"] == \
        ["iot:0011223344556677", "ip:10.0.0.66"]


def test_monitor_bounded_under_forged_sources():
    ev = Events()
    mon = AnomalyMonitor(ev, opts(max_peers=16))
    for i in range(5000):
        mon.observe(f"ip:10.{i // 256}.{i % 256}.1", Verdict.UNKNOWN_PEER, i * 0.001)
    assert len(mon.peers) <= 16 and len(mon._held) <= 64
    assert len(ev.records) <= 10                               # burst per minute over all peers
    assert mon.stats["suppressed"] > 0


def test_board_section_gives_typed_frozen_options_and_bad_values_are_named():
    from dataclasses import FrozenInstanceError

    from sumame.boards.schema import BoardErrors, validate
    o = ExtSecOptions.from_section({"rate_limit_per_s": 2, "known_peers": ["ip:192.168.1.20"], "auth_failures": 5})
    assert o.rate_limit_per_s == 2.0 and isinstance(o.rate_limit_per_s, float)
    assert o.known_peers == ("ip:192.168.1.20",) and o.auth_failures == 5 and o.flush_s == 5.0
    with pytest.raises(FrozenInstanceError):
        o.auth_failures = 1
    base = {"board": {"name": "x", "kind": "lv"},
            "identity": {"route_b_id": "0" * 32, "route_b_password": "A" * 12, "supply_point": "0" * 22},
            "meter": {"wiring": "1p3w"}}
    with pytest.raises(BoardErrors) as err:
        validate("b.toml", {**base, "extsec": {"known_peers": ["nocolon"], "flush_entries": 500}})
    text = str(err.value)
    assert "known_peers" in text and "flush_entries" in text


def test_entry_ring_answers_like_a_bounded_deque():
    """The compact RAM ring gives back exactly what a deque(maxlen) of the entries would."""
    from collections import deque

    from sumame.firmware.security.extlog import Direction, Entry, EntryRing, Verdict

    for maxlen in (1, 7, 16):
        ring, ref = EntryRing(maxlen), deque(maxlen=maxlen)
        assert not ring and len(ring) == 0
        for i in range(40):
            e = Entry(1775055600.0 + i * 0.37, f"ip:10.0.0.{i % 5}", Direction(i % 2), 70000 + i if i % 9 == 0 else i,
                      Verdict(i % 11))
            ring.append(e)
            ref.append(e)
            assert list(ring) == list(ref) and len(ring) == len(ref)
            assert ring[-1] == ref[-1] and ring[0] == ref[0] and ring.maxlen == ref.maxlen
            assert all(type(a.direction) is Direction and type(a.verdict) is Verdict for a in ring)
        with pytest.raises(IndexError):
            ring[maxlen]
