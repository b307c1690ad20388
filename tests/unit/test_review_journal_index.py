"""Independent review of the compact journal index (IndexedJournal, per page a run + tail).

The same random history — appends of mixed sizes, page turns round the ring, power cuts at
each flash operation (NOR bit-level tears), bit flips at rest (rot in records, stray 0 bits
in erased flash that make a program fail and a slot be skipped), reboots that rebuild the index
from flash, sequence numbers near the top of their 32 bits — is run on two flashes: one under
``Journal`` (records kept as objects: the reference the index replaced) and one under
``IndexedJournal``. After every step both flash images must be identical and everything the
index answers (records known, counts, scrub findings, evictions) must equal the reference; every
record it knows and every history read (``read_page``) is checked against a decoder written here
from the format in journal.py's docstring, straight from the flash image."""
from __future__ import annotations

import hashlib
import hmac
import struct
import zlib

from hypothesis import HealthCheck, given, settings, strategies as st

from sumame.drivers.emulated.storage.flash import EmulatedFlash, nor_tear
from sumame.firmware.storage.journal import Journal, JournalFault
from sumame.firmware.storage.journal_index import IndexedJournal
from sumame.hal.errors import PowerCut

KEY = bytes(range(7, 39))
NAME = "rv"
PAGE, PAGES = 256, 4
INTERNAL = (0xFE, 0xFD)


def decode_page(image: bytes, page: int) -> dict[int, tuple]:
    """offset -> (seq, kind, payload, state) of every record on ``page`` whose CRC and HMAC are
    right (any state byte), found by trying every offset."""
    data = image[page * PAGE:(page + 1) * PAGE]
    out = {}
    for pos in range(0, PAGE - 38 + 1):
        if data[pos + 1] != 0x5A:
            continue
        state, _, kind, flags, n, seq, _prev = struct.unpack_from(">BBBBHI8s", data, pos)
        end = pos + 38 + n
        if flags or end > PAGE:
            continue
        if zlib.crc32(data[pos + 1:end - 4]) != int.from_bytes(data[end - 4:end], "big"):
            continue
        tag = hmac.new(KEY, NAME.encode() + data[pos + 1:pos + 18 + n], hashlib.sha256).digest()[:16]
        if tag != data[pos + 18 + n:pos + 34 + n]:
            continue
        out[pos] = (seq, kind, bytes(data[pos + 18:pos + 18 + n]), state)
    return out


class Twin:
    """One history on two flashes: the reference Journal and the IndexedJournal."""

    def __init__(self, start_seq: int):
        self.flash = [EmulatedFlash(None, page_size=PAGE, page_count=PAGES) for _ in range(2)]
        self.evicted: list[list[int]] = [[], []]
        self.flipped = False
        self.start_seq = start_seq
        self.boot()

    def boot(self):
        self.j = []
        for i, cls in enumerate((Journal, IndexedJournal)):
            j = cls(self.flash[i], 0, PAGES, name=NAME, key=KEY,
                    on_evict=lambda recs, e=self.evicted[i]: e.extend(r.seq for r in recs))
            rec = j.recover()
            if not rec.records and j.next_seq == 0 and self.start_seq:
                j._next_seq = self.start_seq    # a meter whose journal has run for years
            self.j.append(j)

    def append(self, i: int, size: int):
        results = []
        for j in self.j:
            try:
                j.append(1 + i % 3, bytes([(i * 31 + k) & 0xFF for k in range(size)]))
                results.append("ok")
            except PowerCut:
                results.append("cut")
            except JournalFault:
                results.append("fault")
        assert results[0] == results[1]
        return results[0]

    def check(self):
        plain, compact = self.j
        image = self.flash[1].image()
        assert self.flash[0].image() == image, "the index changed what is written"
        assert [(r.seq, r.page, r.offset, r.payload, r.kind) for r in compact.records_in_ram()] == \
               [(r.seq, r.page, r.offset, r.payload, r.kind) for r in plain.records_in_ram()] \
            if not self.flipped else True
        assert compact.record_count == plain.record_count or self.flipped
        assert compact.fill_ratio() == plain.fill_ratio() or self.flipped
        assert compact.next_seq == plain.next_seq and compact.write_page == plain.write_page
        for page in range(PAGES):
            plain_recs = plain._page_records.get(page) or []
            entry = compact._page_records.entry(page)
            got = list(zip(*compact._page_records._offsets_seqs(page))) if entry is not None else []
            assert got == [(r.offset, r.seq) for r in plain_recs], f"index of page {page}"
            assert compact.verify_page(page) == plain.verify_page(page)
            # every record the index hands out is the one on flash at its offset
            on_flash = decode_page(image, page)
            for r in compact._page_records.get(page) or []:
                seq, kind, payload, state = on_flash[r.offset]
                assert (seq, kind, payload) == (r.seq, r.kind, r.payload) and state != 0xFF
            if not self.flipped:
                assert {r.offset for r in plain_recs} <= set(on_flash)
            # a history read serves exactly the committed records decoded straight from flash
            rolled = None if compact._finish is None else compact._finish - page * PAGE
            want = sorted((seq, off, payload) for off, (seq, kind, payload, state) in on_flash.items()
                          if (state == 0x00 or off == rolled) and kind not in INTERNAL)
            served = sorted((r.seq, r.offset, r.payload) for r in compact.read_page(page))
            assert served == want or (self.flipped and set(served) <= set(want)), f"read of page {page}"
        if not self.flipped:
            assert self.evicted[0] == self.evicted[1]
        else:
            assert set(self.evicted[1]) <= set(self.evicted[0])


_step = st.one_of(
    st.tuples(st.just("append"), st.integers(1, 60)),
    st.tuples(st.just("run"), st.integers(1, 60), st.integers(1, 25)),
    st.tuples(st.just("cut"), st.integers(1, 60), st.integers(1, 6), st.integers(0, 10 ** 6)),
    st.tuples(st.just("reboot")),
    st.tuples(st.just("rot"), st.integers(0, PAGES * PAGE - 1), st.integers(0, 7)),
    st.tuples(st.just("badbit"), st.integers(0, 7)),
)


def _play(start_seq, steps):
    t = Twin(start_seq)
    t.check()
    i = 0
    for step in steps:
        kind = step[0]
        if kind == "append":
            t.append(i, step[1])
            i += 1
        elif kind == "run":   # one record size: the interval journals' progressions
            for _ in range(step[2]):
                t.append(i, step[1])
                i += 1
        elif kind == "cut":
            for f in t.flash:
                f.cut_power_at(f.ops + step[2], torn=nor_tear(step[3]))
            outcome = t.append(i, step[1])
            i += 1
            for f in t.flash:
                f._cut_at = None
            if outcome == "cut":
                t.boot()
        elif kind == "reboot":
            t.boot()
        elif kind == "rot":
            for f in t.flash:
                f.flip_bit(step[1], step[2])
            t.flipped = True
        elif kind == "badbit":   # a 0 bit in erased flash just ahead of the write position
            j = t.j[1]
            ahead = j._pos + 20
            address = (j.first_page + j._cur) * PAGE + ahead
            if ahead < PAGE - 42 and t.flash[1].read(address, 1)[0] & (1 << step[1]):   # not the mark slot
                for f in t.flash:
                    f.flip_bit(address, step[1])
        t.check()
    return t


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([0, 2 ** 31 - 40, 2 ** 32 - 400]), st.lists(_step, max_size=25))
def test_compact_index_answers_as_the_record_lists_and_as_the_flash(start_seq, steps):
    _play(start_seq, steps)


def test_power_cut_at_every_operation_of_a_page_turn_then_history_reads():
    """Fill to just before a page turn, then cut at each of the turn's flash operations (RECLAIM
    program + commit, erase, record program + commit), reboot, continue: every step checked."""
    for n in range(1, 8):
        for seed in (1, 2, 3):
            t = _play(0, [("run", 40, 12)])
            j = t.j[1]
            while j._pos + 2 * (38 + 40) + 82 <= PAGE or j._cur != 3:   # one record before the turn into page 0
                t.append(99, 40)
                t.check()
            _play_more = [("cut", 40, n, seed), ("run", 40, 6), ("reboot",), ("run", 40, 5)]
            for step in _play_more:
                if step[0] == "cut":
                    for f in t.flash:
                        f.cut_power_at(f.ops + n, torn=nor_tear(seed))
                    if t.append(100, 40) == "cut":
                        t.boot()
                    for f in t.flash:
                        f._cut_at = None
                elif step[0] == "run":
                    for k in range(step[2]):
                        t.append(200 + k, 40)
                        t.check()
                else:
                    t.boot()
                t.check()


def test_a_record_rolled_forward_at_boot_is_served_by_history_reads():
    """A cut that leaves the newest record's commit byte partly programmed: recovery keeps the
    record (it is whole) and finishes the commit before the next write. Until then a history read
    of its page must serve it too, as boot did (else the interval it holds reads as missing until
    the next record of that journal, e.g. up to 30 min for the long journal after an outage)."""
    kept = 0
    for seed in range(40):
        for cls in (Journal, IndexedJournal):
            flash = EmulatedFlash(None, page_size=PAGE, page_count=PAGES)
            j = cls(flash, 0, PAGES, name=NAME, key=KEY)
            j.recover()
            j.append(1, b"first")
            flash.cut_power_at(flash.ops + 2, torn=nor_tear(seed))   # the commit byte of the next one
            try:
                j.append(1, b"second")
            except PowerCut:
                pass
            state = flash.read(j.write_page * PAGE + 38 + 5, 1)[0]
            j = cls(flash, 0, PAGES, name=NAME, key=KEY)
            recovery = j.recover()
            if state in (0x00, 0xFF):
                continue
            kept += 1
            assert [r.payload for r in recovery.records] == [b"first", b"second"]
            assert [r.payload for r in j.read_page(0)] == [b"first", b"second"], cls.__name__
            j.append(1, b"third")          # finishes the commit: still served, and the new one too
            assert [r.payload for r in j.read_page(0)] == [b"first", b"second", b"third"]
    assert kept > 20
