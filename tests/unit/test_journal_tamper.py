"""Tamper proof: someone with a programmer rewrites the flash using only genuine bytes.

Each manipulation below keeps every CRC and HMAC right; the journal must still report tamper.
Not detectable from the flash alone (an older genuine image is self-consistent): the newest
records cut off, and the whole image rolled back — ``Storage`` detects both with the board's
monotonic counter (asserted here too, with and without a counter).
"""
import pytest

from sumame.drivers.emulated.storage.counter import EmulatedBackupCounter
from sumame.drivers.emulated.storage.flash import EmulatedFlash
from sumame.firmware.storage.journal import OVERHEAD, Journal
from sumame.firmware.metrology.registers import Retention, Snapshot
from sumame.firmware.storage.store import Storage, plan_layout

KEY = bytes(range(32))
PAGES, PAGE = 4, 512


def flash_with(count, start=0, flash=None):
    f = flash or EmulatedFlash(None, page_size=PAGE, page_count=PAGES)
    j = Journal(f, 0, PAGES, name="t", key=KEY)
    j.recover()
    for i in range(start, start + count):
        j.append(1, i.to_bytes(4, "big") * 3)
    return f, j


def recover(f, name="t", key=KEY):
    return Journal(f, 0, PAGES, name=name, key=key).recover()


def frames(f, page):
    """[(offset, bytes)] of the records on one page, as stored."""
    rec = recover(f)
    data = f.read(page * PAGE, PAGE)
    out = []
    journal = Journal(f, 0, PAGES, name="t", key=KEY)
    journal.recover()
    for r in sorted(journal._page_records.get(page, []), key=lambda r: r.offset):
        out.append((r.offset, data[r.offset:r.offset + OVERHEAD + len(r.payload)]))
    assert rec is not None
    return out


def rewrite(f, page, chunks):
    """Put a page back together from genuine record bytes (as a programmer would)."""
    body = b"".join(chunks)
    raw = bytearray(f.image())
    raw[page * PAGE:(page + 1) * PAGE] = body + b"\xff" * (PAGE - len(body))
    f.load_image(bytes(raw))


def tampered(rec):
    return [fd for fd in rec.findings if fd.kind == "tamper"]


@pytest.fixture
def wrapped():
    f, j = flash_with(40)      # 40 records on 4 pages of 512 B: wrapped
    assert not recover(f).findings
    return f, j


def middle_page(j):
    return (j._cur + 2) % PAGES


def test_record_removed(wrapped):
    f, j = wrapped
    page = middle_page(j)
    chunks = [c for _, c in frames(f, page)]
    assert len(chunks) >= 3
    rewrite(f, page, chunks[:1] + chunks[2:])
    assert tampered(recover(f)), "a removed record went unnoticed"


def test_record_removed_last_of_its_page(wrapped):
    f, j = wrapped
    page = middle_page(j)
    chunks = [c for _, c in frames(f, page)]
    rewrite(f, page, chunks[:-2] + chunks[-1:])   # drop the last data record, keep the RECLAIM
    assert tampered(recover(f))


def test_records_reordered(wrapped):
    f, j = wrapped
    page = middle_page(j)
    chunks = [c for _, c in frames(f, page)]
    chunks[1], chunks[2] = chunks[2], chunks[1]
    rewrite(f, page, chunks)
    assert tampered(recover(f)), "reordered records went unnoticed"


def test_record_duplicated(wrapped):
    f, j = wrapped
    page = j._cur
    chunks = [c for _, c in frames(f, page)]
    rewrite(f, page, chunks + chunks[-1:])       # the newest record once more at the tail
    assert tampered(recover(f))
    other = middle_page(j)
    rewrite(f, page, chunks)
    mid = [c for _, c in frames(f, other)]
    rewrite(f, other, mid[:2] + mid[1:])         # an older record twice
    assert tampered(recover(f))


def test_record_replaced_by_a_genuine_record_from_elsewhere(wrapped):
    f, j = wrapped
    page = middle_page(j)
    chunks = [c for _, c in frames(f, page)]
    donor = [c for _, c in frames(f, (page + 1) % PAGES)]
    rewrite(f, page, chunks[:1] + donor[:1] + chunks[2:])   # same journal, another position
    assert tampered(recover(f))
    # from another journal of the same meter (same key, other name) and from another meter
    for name, key in (("events", KEY), ("t", bytes(32))):
        g = EmulatedFlash(None, page_size=PAGE, page_count=PAGES)
        gj = Journal(g, 0, PAGES, name=name, key=key)
        gj.recover()
        for i in range(40):
            gj.append(1, i.to_bytes(4, "big") * 3)
        stranger = g.read(page * PAGE, PAGE)
        foreign = []
        for r in sorted(gj._page_records[page], key=lambda r: r.offset):
            foreign.append(stranger[r.offset:r.offset + OVERHEAD + len(r.payload)])
        rewrite(f, page, chunks[:1] + foreign[1:2] + chunks[2:])
        assert tampered(recover(f)), f"a record from {name}/{key[:2].hex()} went unnoticed"


@pytest.mark.parametrize("which", ["middle", "oldest", "previous"])
def test_page_swapped_with_an_older_genuine_copy(which):
    f, j = flash_with(40)
    old = f.image()
    flash_with(25, start=40, flash=f)
    j = Journal(f, 0, PAGES, name="t", key=KEY)
    assert not j.recover().findings
    page = {"middle": (j._cur + 2) % PAGES, "oldest": (j._cur + 1) % PAGES,
            "previous": (j._cur - 1) % PAGES}[which]
    assert old[page * PAGE:(page + 1) * PAGE] != f.read(page * PAGE, PAGE)
    raw = bytearray(f.image())
    raw[page * PAGE:(page + 1) * PAGE] = old[page * PAGE:(page + 1) * PAGE]
    f.load_image(bytes(raw))
    assert tampered(recover(f)), f"the {which} page swapped for an older copy went unnoticed"


def test_rollback_and_truncation_need_the_monotonic_counter(tmp_path):
    """A whole older genuine image (or one cut after its newest records) is self-consistent:
    without a counter nothing can tell; with the board's counter storage reports tamper."""
    retention = Retention(2, 2, 1, 60)
    layout = plan_layout(1024, 96, retention)

    class Clock:
        t = 1_780_000_000.0

        def now(self):
            return self.t

    def run(flash, counter, minutes, start):
        s = Storage(flash, layout, KEY, Clock(), counter=counter)
        report = s.boot(retention)
        for m in range(start, start + minutes):
            s.append_snapshot(Snapshot(m, 1, m, 0, 0, 0))
            s.save("metering.checkpoint", m.to_bytes(4, "big"))
        return report

    for with_counter in (False, True):
        flash = EmulatedFlash(None, page_size=1024, page_count=96)
        counter = EmulatedBackupCounter(tmp_path / f"counter-{with_counter}.bin") if with_counter else None
        run(flash, counter, 300, 29_000_000)
        old = flash.image()
        run(flash, counter, 200, 29_000_300)
        clean = run(flash, counter, 0, 0)
        assert not clean.findings(), clean.findings()
        flash.load_image(old)                       # full rollback to an older genuine image
        report = run(flash, counter, 0, 0)
        found = [fd for fd in report.findings() if fd.kind == "tamper"]
        if with_counter:
            assert found and "rolled back" in found[0].detail
        else:
            assert not report.findings()            # the limitation, stated and proven
