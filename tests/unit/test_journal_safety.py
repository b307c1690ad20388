"""Issue 9, defect 5: the journal's HMAC chain-link check and its missing-records check each
have a test that fails when the check is disabled (and a test that they do not flag what
they must not: a bit flip is corruption, not tamper; a clean restart flags nothing).

The attacks are done the way an attacker with the flash chip would: rewriting the image."""
from sumame.drivers.emulated.storage.flash import EmulatedFlash
from sumame.firmware.storage.journal import OVERHEAD, Journal
from sumame.firmware.storage.store import Storage, plan_layout
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.metrology.registers import Retention, Snapshot

KEY = bytes(range(32))
PAGES = 4
PAGE = 256
SIZE = OVERHEAD + 8                       # every record below carries 8 payload bytes


def journal(flash):
    j = Journal(flash, 0, PAGES, name="test", key=KEY)
    return j, j.recover()


def write(flash, values, tag=b"n"):
    j, _ = journal(flash)
    for v in values:
        j.append(1, tag * 4 + v.to_bytes(4, "big"))


def numbers(recovery):
    return [int.from_bytes(r.payload[4:], "big") for r in recovery.records]


def locate(flash, value):
    """(absolute offset, record) of the committed record carrying ``value`` (sequence numbers
    also count the journal's own page-turn records, so records are found by their payload)."""
    _, rec = journal(flash)
    (r,) = [r for r in rec.records if int.from_bytes(r.payload[4:], "big") == value]
    return r.page * PAGE + r.offset, r


def fresh():
    return EmulatedFlash(None, page_size=PAGE, page_count=PAGES)


def test_a_clean_journal_restarts_without_findings():
    f = fresh()
    write(f, range(12))
    _, rec = journal(f)
    assert numbers(rec) == list(range(12)) and rec.findings == []


# ------------------------------------------------------------------ chain link
def forked():
    """Two genuine histories of one journal (same key, same name): seq 0..4 shared, then
    seq 5..9 differing. Each record's HMAC verifies; only the chain tells them apart."""
    a, b = fresh(), fresh()
    write(a, range(5))
    write(b, range(5))
    assert a.image() == b.image()
    write(a, range(5, 10), tag=b"a")
    write(b, range(5, 10), tag=b"b")
    return a, b


def test_a_genuine_record_from_another_history_breaks_the_chain():
    a, b = forked()
    at, _ = locate(a, 7)
    b_at, b_rec = locate(b, 7)
    assert at == b_at
    image = bytearray(a.image())
    image[at:at + SIZE] = b.image()[at:at + SIZE]            # splice b's seq 7 into a
    a.load_image(bytes(image))
    _, rec = journal(a)
    assert 7 in numbers(rec)                                  # the record itself verifies ...
    tamper = rec.of_kind("tamper")
    assert tamper and all("chain broken" in f.detail for f in tamper)   # ... but not its place
    assert {f.offset for f in tamper} == {at % PAGE, (at + SIZE) % PAGE}   # before 7 and before 8
    assert not rec.of_kind("corruption")


def test_a_record_rewritten_with_a_wrong_link_is_tamper():
    f = fresh()
    write(f, range(6))
    j, _ = journal(f)
    at, r = locate(f, 3)
    forged = j.encode(r.kind, r.payload, r.seq, bytes(8))     # right key, wrong prev link
    image = bytearray(f.image())
    image[at:at + SIZE] = b"\x00" + forged[1:]
    f.load_image(bytes(image))
    _, rec = journal(f)
    assert any(f"chain broken before seq {r.seq}" in x.detail for x in rec.of_kind("tamper"))


# ------------------------------------------------------------------ missing records
def test_a_record_cut_out_of_a_page_is_missing_records_tamper():
    f = fresh()
    write(f, range(4))                                        # one page: seq 0..3
    at, _ = locate(f, 1)
    image = bytearray(f.image())
    page = image[:PAGE]
    page = page[:at] + page[at + SIZE:] + b"\xff" * SIZE      # seq 1 removed, the rest moved up
    image[:PAGE] = page
    f.load_image(bytes(image))
    _, rec = journal(f)
    assert numbers(rec) == [0, 2, 3]
    (finding,) = rec.of_kind("tamper")
    assert "1 records (seq 1..1) missing" in finding.detail
    assert not rec.of_kind("corruption")


def test_a_whole_page_erased_out_of_the_middle_is_missing_records_tamper():
    f = fresh()
    write(f, range(12))                                       # pages 0, 1, 2
    _, before = journal(f)
    middle = {r.seq for r in before.records if r.page == 1}
    assert middle
    image = bytearray(f.image())
    image[PAGE:2 * PAGE] = b"\xff" * PAGE
    f.load_image(bytes(image))
    _, rec = journal(f)
    (finding,) = [x for x in rec.of_kind("tamper") if "missing" in x.detail]   # (and a ring-order one)
    assert f"seq {min(middle) - 1}" not in finding.detail


def test_a_bit_flip_is_corruption_and_explains_its_missing_record():
    f = fresh()
    write(f, range(6))
    at, _ = locate(f, 2)
    f.flip_bit(at + 20, 3)                                    # inside the payload of seq 2
    _, rec = journal(f)
    assert numbers(rec) == [0, 1, 3, 4, 5]
    assert len(rec.of_kind("corruption")) == 1 and rec.of_kind("tamper") == []


def test_storage_boot_reports_a_removed_snapshot_as_tamper():
    clock = VirtualClock(1_775_055_600.0)
    retention = Retention(days_30=1, days_15=1, days_5=1, minutes_1=60)
    flash = EmulatedFlash(None, page_size=4096, page_count=64)
    layout = plan_layout(4096, 64, retention, event_pages=2, state_pages=2)
    store = Storage(flash, layout, KEY, clock)
    store.boot(retention)
    first, _ = layout.partitions["short"]
    minutes = [m for m in range(29_584_260, 29_584_260 + 20) if m % 5]     # 1-minute grid only
    for m in minutes:
        store.append_snapshot(Snapshot(m, 1, m * 10, 0, 0, 0, 0, 0, 0))
    image = bytearray(flash.image())
    base = first * 4096
    size = OVERHEAD + Snapshot.SIZE
    victim = base + 3 * size
    page = image[base:base + 4096]
    image[base:base + 4096] = page[:3 * size] + page[4 * size:] + b"\xff" * size
    flash.load_image(bytes(image))
    report = Storage(flash, layout, KEY, clock).boot(retention)
    got = [s.minute for s in report.snapshots]
    assert got == minutes[:3] + minutes[4:] and victim
    assert [f.kind for f in report.findings() if f.kind != "torn"] == ["tamper"]
