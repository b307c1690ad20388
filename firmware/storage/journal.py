"""A power-cut-safe, tamper-evident record journal on a range of NVM pages.

Record layout (big-endian)::

    0      state    1  0xFF while being written, 0x00 once committed (programmed last)
    1      magic    1  0x5A
    2      kind     1  record type (owner-defined)
    3      flags    1  0x00
    4      length   2  payload bytes n
    6      seq      4  journal sequence number, +1 per record
    10     prev     8  first 8 bytes of the previous record's tag (the chain link)
    18     payload  n
    18+n   tag     16  HMAC-SHA256(device key, journal name | bytes 1..18+n)[:16]
    34+n   crc      4  CRC-32 of bytes 1..34+n

Commit protocol: program bytes 1.. (state stays 0xFF), then program the state byte to 0x00.
A power cut can therefore only leave an *uncommitted* record at the very end of the log: state
0xFF, or — NOR flash clears a byte's bits one by one — a state byte with only some bits cleared
over a complete record (CRC and HMAC right). The latter is rolled forward: the record is whole,
it is served and its commit is finished (state programmed to 0x00) before the next write. A
committed record is never torn. Records never span pages.

The pages form a ring. Before the ring moves into the next page, a RECLAIM record naming that
page is committed, then the page is erased; so after a power cut during the erase the journal
knows the garbage in that page is a torn erase, not corruption (records left in it are evicted
ones and are dropped). Eviction is FIFO (the oldest page goes). ``snapshot`` journals (the state
store) re-write every live record at the start of each new page, so the newest page alone
always holds every live value.

Every page keeps its last ``MARK_SIZE`` bytes free (the *mark slot*). When the page cannot be
continued — a torn write left garbage after the last record, or a program failed on a bad
(non-erased) bit — the page turn commits its RECLAIM in the mark slot with a 4-byte payload
(next page, offset from which this page is abandoned). The mark is a pure function of the
journal state, so a turn cut again is retried with the very same bytes at the same place (NOR
lets a program be repeated), and every page turn, even after a cut, is marked before its erase.
(On-flash format: RECLAIM payload 2 bytes = normal turn, 4 bytes = mark; the legacy SEALED
record is still read and written only when the mark slot itself is unusable.)

Recovery classifies what it finds:
* ``torn``       uncommitted bytes at the end of the log, or a page whose erase was cut (info)
* ``corruption`` a committed record whose CRC or structure is wrong, stray bytes inside the log
* ``flash-fault`` a few 0 bits in a page that holds no record (bad bits in erased flash)
* ``tamper``     CRC right but HMAC wrong, broken chain link, records missing without trace,
                 two records with one sequence number, records or pages out of order
Not detectable from the flash alone (an old genuine image is self-consistent): the newest
records cut off, or the whole image rolled back. ``Storage`` checks those against a monotonic
counter where the board has one.
"""
from __future__ import annotations

import hashlib
from hashlib import sha256 as _sha256
import struct
import zlib
from dataclasses import dataclass, field
from typing import Callable, Iterable

from sumame.hal.errors import NvmProgramError

STATE_WRITING = 0xFF
STATE_COMMITTED = 0x00
MAGIC = 0x5A
HEADER = struct.Struct(">BBBBHI8s")  # state magic kind flags length seq prev
HEADER_SIZE = HEADER.size            # 18
_BODY = struct.Struct(">BBBHI8s")    # the header without its state byte: magic kind flags length seq prev
_WRITING, _COMMITTED = bytes((STATE_WRITING,)), bytes((STATE_COMMITTED,))
TAG_SIZE = 16
CRC_SIZE = 4
OVERHEAD = HEADER_SIZE + TAG_SIZE + CRC_SIZE  # 38
KIND_RECLAIM = 0xFE                 # reserved: "about to erase page N"
KIND_SEALED = 0xFD                  # reserved: "page N holds a torn write from offset M on"
_INTERNAL = (KIND_RECLAIM, KIND_SEALED)
STRAY_BITS = 8                      # at most this many 0 bits in a page without records = bad bits
SCRUB_KEY_BYTES = 16
"""Bytes of the scrub's per-page key kept (see ``Journal._scrub_lookup``): 376 pages of a
fleet meter hold 6 KiB, where a tuple of digest, facts and findings per page held ~110 KiB."""
_SCRUB_FACTS = struct.Struct(">qqqq")   # known records, first seq, last seq, rolled-forward address
_NO_KEY = bytes(SCRUB_KEY_BYTES)
_crc32 = zlib.crc32   # the same CRC-32 as crcmod's "crc-32" (checked in tests), in C


def _hmac_pads(key: bytes, name: bytes) -> tuple[bytes, bytes]:
    """(inner prefix, outer pad) of HMAC-SHA256(key, name | ...): the key XOR ipad followed by
    the journal's name, and the key XOR opad. Bytes, not hash states to copy: a SHA-256 state
    holds ~350 B of OpenSSL memory (two per journal, six journals per meter)."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key) + name, bytes(b ^ 0x5C for b in key)
_RECLAIM_SIZE = OVERHEAD + 2
MARK_SIZE = OVERHEAD + 4             # RECLAIM with (next page, abandoned-from offset)
_RESERVE = _RECLAIM_SIZE + MARK_SIZE  # kept free after the last record of a page
PAGE_RESERVE = _RESERVE              # bytes of every page no data record may use


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    kind: int
    payload: bytes
    page: int           # page index within the journal
    offset: int         # byte offset within the page
    tag: bytes
    prev: bytes         # chain link: first 8 bytes of the previous record's tag


@dataclass(frozen=True)
class Finding:
    """Something recovery noticed. kind: 'torn' | 'corruption' | 'tamper' | 'flash-fault'."""

    kind: str
    page: int
    offset: int
    detail: str


@dataclass
class Recovery:
    records: list[Record] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]


FAULTS_KEPT = 64
"""Fault details a journal (and the store) keep in RAM: the newest, so dead flash that fails
every record for months costs bounded memory (the alarms themselves go to the event log)."""


def note_fault(faults: list[str], detail: str) -> None:
    """Append ``detail``; keep only the newest ``FAULTS_KEPT``."""
    faults.append(detail)
    if len(faults) > FAULTS_KEPT:
        del faults[:len(faults) - FAULTS_KEPT]


class JournalFull(Exception):
    """A record does not fit in one page."""


class JournalFault(Exception):
    """Programs keep failing on every page tried (flash no longer writable)."""


class Journal:
    """One journal on pages [first_page, first_page + page_count) of ``nvm``.

    key:       device HMAC key (bytes); name: journal name (part of every tag)
    live:      for snapshot journals, a callable returning the (kind, payload) records to
               re-write at the start of every new page; None for FIFO journals
    on_evict:  called with the records of a page just before it is erased (retention checks)
    evict_check: optional, called with a page about to be erased: False when ``on_evict`` need
               not see its records (they cannot matter to it), so they are dropped unread — an
               IndexedJournal would otherwise read the page back and verify every record
    on_fault:  called with a one-line description when a program failed on a bad bit and the
               rest of the page was abandoned (the record is then written on the next page)
    """

    def __init__(self, nvm, first_page: int, page_count: int, *, name: str, key: bytes,
                 live: Callable[[], Iterable[tuple[int, bytes]]] | None = None,
                 on_evict: Callable[[list[Record]], None] | None = None,
                 on_fault: Callable[[str], None] | None = None,
                 evict_check: Callable[[int], bool] | None = None):
        if page_count < 2:
            raise ValueError(f"journal {name} needs at least 2 pages, got {page_count}")
        self.nvm, self.first_page, self.page_count = nvm, first_page, page_count
        self.page_size = nvm.page_size
        self.name, self._key, self._name_bytes = name, key, name.encode()
        self.live, self.on_evict, self.on_fault = live, on_evict, on_fault
        self.evict_check = evict_check
        self._mark_at = self.page_size - MARK_SIZE
        self._finish: int | None = None    # address of a rolled-forward commit byte
        self.faults: list[str] = []
        self._cur = 0
        self._pos = 0
        self._next_seq = 0
        self._prev_tag = bytes(8)
        self._page_records: dict[int, list[Record]] = {}
        self._seal: tuple[int, int] | None = None
        self._reclaimed: int | None = None  # newest record already is RECLAIM(this page)
        self.appended = 0
        self.max_payload = self.page_size - OVERHEAD - _RESERVE
        self._hmac_pads = None   # (inner prefix, outer pad) bytes, made at the first tag
        self._scrub_cache: tuple[bytearray, dict] | None = None   # made at the first scrub
        # (attributes, not self.__dict__ look-ups: an instance dict is only made when asked for)

    # ------------------------------------------------------------------ record codec
    def _tag(self, body: bytes) -> bytes:
        pads = self._hmac_pads
        if pads is None:   # HMAC-SHA256 (RFC 2104) with the keyed pads hashed once per journal
            pads = self._hmac_pads = _hmac_pads(self._key, self._name_bytes)
        return _sha256(pads[1] + _sha256(pads[0] + body).digest()).digest()[:TAG_SIZE]

    def encode(self, kind: int, payload: bytes, seq: int, prev: bytes) -> bytes:
        return _WRITING + self._frame(kind, payload, seq, prev)[0]

    def _frame(self, kind: int, payload: bytes, seq: int, prev: bytes) -> tuple[bytes, bytes]:
        """(bytes 1.. of the record — everything after the state byte —, its tag): what a write
        programs before the commit byte, built without slicing a whole frame apart."""
        body = _BODY.pack(MAGIC, kind, 0, len(payload), seq, prev) + payload
        tag = self._tag(body)
        tagged = body + tag
        return tagged + _crc32(tagged).to_bytes(4, "big"), tag

    def _parse(self, data: bytes, pos: int) -> tuple[str, int, Record | None]:
        """Parse at ``pos``: ('ok'|'bad-mac'|'bad', size, record)."""
        if pos + OVERHEAD > len(data) or data[pos + 1] != MAGIC:
            return "bad", 0, None
        _, _, kind, flags, length, seq, prev = HEADER.unpack_from(data, pos)
        size = OVERHEAD + length
        if flags != 0 or pos + size > len(data):
            return "bad", 0, None
        end_tag = pos + HEADER_SIZE + length
        tagged = data[pos + 1:end_tag + TAG_SIZE]
        if _crc32(tagged) != int.from_bytes(data[end_tag + TAG_SIZE:pos + size], "big"):
            return "bad", size, None
        tag = data[end_tag:end_tag + TAG_SIZE]
        record = Record(seq, kind, bytes(data[pos + HEADER_SIZE:end_tag]), 0, pos, bytes(tag),
                        bytes(prev))
        if self._tag(data[pos + 1:end_tag]) != tag:
            return "bad-mac", size, record
        return "ok", size, record

    # ------------------------------------------------------------------ recovery
    def recover(self) -> Recovery:
        """Scan every page, rebuild the write position, classify damage."""
        result = Recovery()
        raw_findings: list[tuple[int, int, str, str]] = []  # page, offset, cause, detail
        page_ends: dict[int, int] = {}
        records: list[Record] = []
        partial: list[Record] = []   # whole records whose commit byte is only partly programmed
        for page in range(self.page_count):
            data = self.nvm.read((self.first_page + page) * self.page_size, self.page_size)
            end, found = self._scan_page(page, data, records, partial)
            page_ends[page] = end
            raw_findings.extend(found)
        records.sort(key=lambda r: r.seq)
        self._finish, self._seal, self._reclaimed = None, None, None
        for cand in sorted(partial, key=lambda r: r.seq):
            follows = (cand.seq == records[-1].seq + 1 and cand.prev == records[-1].tag[:8]) if records \
                else cand.seq == 0
            if follows:  # the commit of the newest record was cut: it is whole, roll forward
                records.append(cand)
                self._finish = (self.first_page + cand.page) * self.page_size + cand.offset
                result.findings.append(Finding("torn", cand.page, cand.offset,
                                               f"{self.name}: commit of record seq {cand.seq} at page "
                                               f"{cand.page}+{cand.offset} was interrupted; record kept"))
            else:
                raw_findings.append((cand.page, cand.offset, "bad",
                                     f"record seq {cand.seq} at page {cand.page}+{cand.offset}: "
                                     f"commit flag damaged"))
        # the newest committed record decides where the log continues
        reclaim_page = None
        if records:
            newest = records[-1]
            self._cur = newest.page
            self._next_seq = newest.seq + 1
            self._prev_tag = newest.tag[:8]
            if newest.kind == KIND_RECLAIM:
                reclaim_page = int.from_bytes(newest.payload[:2], "big")
                self._reclaimed = reclaim_page
                records = [r for r in records if r.page != reclaim_page]  # evicted, maybe half erased
        used = {r.page for r in records} | {r.page for r in partial}
        sealed = {}
        for r in records:
            if r.kind == KIND_SEALED:
                sealed_page, sealed_at = struct.unpack(">HH", r.payload)
            elif r.kind == KIND_RECLAIM and len(r.payload) == 4:   # a mark: this page ends early
                sealed_page, sealed_at = r.page, struct.unpack(">HH", r.payload)[1]
            else:
                continue
            sealed[sealed_page] = min(sealed_at, sealed.get(sealed_page, sealed_at))
        for page, offset, cause, detail in raw_findings:
            if page in sealed and offset >= sealed[page] and cause != "bad-mac":
                continue  # inside a region the journal abandoned (torn write or bad bit)
            if page == reclaim_page:
                kind = "torn"
                detail = f"erase of page {page} was interrupted ({detail})"
            elif cause == "uncommitted" and records and page == self._cur and offset >= _last_end(records, page):
                kind = "torn"
            elif cause == "uncommitted" and not records:
                kind = "torn"
            elif cause == "bad-mac":
                kind = "tamper"
            elif page != self._cur and page not in used and self._stray_bits(page) <= STRAY_BITS:
                kind = "flash-fault"   # bad bits in an erased page: no record touched
                detail = (f"{self._stray_bits(page)} bit(s) at 0 in erased page {page} (bad bits in "
                          f"erased flash; the page is erased before it is written)")
            else:
                kind = "corruption"
            result.findings.append(Finding(kind, page, offset, f"{self.name}: {detail}"))
        damaged = sum(1 for f in result.findings if f.kind not in ("torn", "flash-fault"))
        result.findings.extend(self._check_chain(records, damaged))
        result.findings.extend(self._check_order(records))
        self._page_records = {}
        for r in records:
            self._page_records.setdefault(r.page, []).append(r)
        # continue after the last record of the newest page if the rest of it is clean
        if records:
            end = _last_end(records, self._cur)
            clean = page_ends[self._cur] <= end
            self._pos = end if clean else self.page_size  # dirty tail: move to a fresh page
            if not clean and self._cur not in sealed:
                self._seal = (self._cur, end)
        else:
            self._cur, self._pos = 0, 0
            if page_ends[0] > 0:
                self._pos = self.page_size
                if 0 not in sealed:
                    self._seal = (0, 0)
        if reclaim_page is not None:
            self._pos = self.page_size  # finish the interrupted move into reclaim_page
            self._cur = (reclaim_page - 1) % self.page_count
        result.records = [r for r in records if r.kind not in _INTERNAL]
        return result

    def _stray_bits(self, page: int) -> int:
        """Bits at 0 in ``page`` (a page no record lives in)."""
        data = self.nvm.read((self.first_page + page) * self.page_size, self.page_size)
        return len(data) * 8 - int.from_bytes(data, "big").bit_count()

    def _scan_page(self, page: int, data: bytes, out: list[Record], partial: list[Record]):
        """Return (end of non-erased data, findings); append valid records to ``out`` and whole
        records with a partly programmed commit byte to ``partial``."""
        findings = []
        pos, size = 0, len(data)
        erased_tail = size - len(data.rstrip(b"\xff"))
        data_end = size - erased_tail
        while pos < data_end:
            state = data[pos]
            status, length, record = self._parse(data, pos)
            if state == STATE_COMMITTED and status == "ok":
                out.append(_at_page(record, page))
                pos += length
                continue
            if state != STATE_WRITING and status == "ok":
                partial.append(_at_page(record, page))
                pos += length
                continue
            if state != STATE_WRITING and status == "bad-mac":
                findings.append((page, pos, "bad-mac",
                                 f"record seq {record.seq} at page {page}+{pos}: HMAC does not verify"))
                pos += length
                continue
            if state == STATE_WRITING and status in ("ok", "bad-mac"):
                findings.append((page, pos, "uncommitted",
                                 f"record seq {record.seq} at page {page}+{pos} was never committed"))
                pos += length
                continue
            cause = "uncommitted" if state == STATE_WRITING else "bad"
            nxt = self._resync(data, pos + 1, data_end)
            findings.append((page, pos, cause,
                             f"{nxt - pos} unreadable bytes at page {page}+{pos}"
                             + (" (partial record)" if cause == "uncommitted" else "")))
            pos = nxt
        return data_end, findings

    def _resync(self, data: bytes, start: int, end: int) -> int:
        """Next offset holding a parseable record, or ``end``."""
        pos = start
        while pos < end:
            hit = data.find(MAGIC.to_bytes(1, "big"), pos + 1, end)
            if hit < 0:
                return end
            pos = hit - 1
            if self._parse(data, pos)[0] != "bad":
                return pos
            pos += 1
        return end

    def _check_chain(self, records: list[Record], damaged: int) -> list[Finding]:
        """Sequence numbers and chain links; ``damaged`` = records already reported as damaged
        (each may explain one missing sequence number)."""
        findings = []
        unexplained_budget = damaged
        for a, b in zip(records, records[1:]):
            if b.seq == a.seq:
                findings.append(Finding("tamper", b.page, b.offset,
                                        f"{self.name}: two records claim seq {b.seq}"))
            elif b.seq == a.seq + 1:
                if b.prev != a.tag[:8]:
                    findings.append(Finding("tamper", b.page, b.offset,
                                            f"{self.name}: chain broken before seq {b.seq}"))
            elif b.seq > a.seq + 1:
                missing = b.seq - a.seq - 1
                if missing > unexplained_budget:
                    findings.append(Finding(
                        "tamper", b.page, b.offset,
                        f"{self.name}: {missing} records (seq {a.seq + 1}..{b.seq - 1}) missing"))
                unexplained_budget = max(0, unexplained_budget - missing)
        return findings

    def _check_order(self, records: list[Record]) -> list[Finding]:
        """Records lie in sequence order within a page, pages follow each other round the ring."""
        findings, by_page = [], {}
        for r in records:
            by_page.setdefault(r.page, []).append(r)
        for page, recs in by_page.items():
            recs = sorted(recs, key=lambda r: r.offset)
            for a, b in zip(recs, recs[1:]):
                if b.seq <= a.seq:
                    findings.append(Finding("tamper", page, b.offset,
                                            f"{self.name}: record seq {b.seq} at page {page}+{b.offset} "
                                            f"lies after seq {a.seq} (records reordered)"))
        spans = sorted((min(r.seq for r in recs), max(r.seq for r in recs), page)
                       for page, recs in by_page.items())
        for (_, a_max, p), (b_min, _, q) in zip(spans, spans[1:]):
            if b_min < a_max or q != (p + 1) % self.page_count:
                findings.append(Finding("tamper", q, 0,
                                        f"{self.name}: page {q} (from seq {b_min}) does not follow page "
                                        f"{p} in the ring (pages swapped or replaced)"))
        return findings

    # ------------------------------------------------------------------ append
    def append(self, kind: int, payload: bytes) -> Record:
        """Write and commit one record; durable when this returns. A program that fails on a
        bad bit abandons the rest of the page (``on_fault``) and the record goes to the next."""
        if len(payload) > self.max_payload:
            raise JournalFull(f"{self.name}: payload of {len(payload)} bytes exceeds {self.max_payload}")
        if self._finish is not None:   # finish a commit that recovery rolled forward
            self.nvm.program(self._finish, bytes((STATE_COMMITTED,)))
            self._finish = None
        size = OVERHEAD + len(payload)
        for _ in range(self.page_count + 1):
            try:
                if self._pos + size + _RESERVE > self.page_size:
                    self._advance_page()
                return self._write(kind, payload)
            except NvmProgramError as exc:
                self._abandon(exc)
        raise JournalFault(f"{self.name}: no page of the journal accepts a program any more")

    def _abandon(self, exc: Exception) -> None:
        detail = (f"{self.name}: program at page {self._cur}+{self._pos} failed ({exc}); "
                  f"rest of page {self._cur} abandoned")
        note_fault(self.faults, detail)
        if self.on_fault is not None:
            self.on_fault(detail)
        if self._seal is None or self._seal[0] != self._cur:
            self._seal = (self._cur, min(self._pos, self._mark_at))
        self._pos = self.page_size

    def _write(self, kind: int, payload: bytes, at: int | None = None) -> Record:
        """Program and commit one record at ``at`` (default: the write position)."""
        offset = self._pos if at is None else at
        rest, tag = self._frame(kind, payload, self._next_seq, self._prev_tag)
        address = (self.first_page + self._cur) * self.page_size + offset
        self.nvm.program(address + 1, rest)
        self.nvm.program(address, _COMMITTED)
        record = Record(self._next_seq, kind, payload, self._cur, offset, tag, self._prev_tag)
        self._note_written(record)
        self._pos = offset + 1 + len(rest)
        self._next_seq += 1
        self._prev_tag = tag[:8]
        self.appended += 1
        return record

    def _advance_page(self) -> None:
        nxt = (self._cur + 1) % self.page_count
        if self._reclaimed != nxt:
            seal = self._seal if self._seal is not None and self._seal[0] == self._cur else None
            if seal is None and self._pos + _RECLAIM_SIZE <= self._mark_at:
                self._write(KIND_RECLAIM, nxt.to_bytes(2, "big"))
            else:   # the page ends early: commit the turn in the mark slot
                start = seal[1] if seal is not None else min(self._pos, self._mark_at)
                try:
                    self._write(KIND_RECLAIM, struct.pack(">HH", nxt, start), at=self._mark_at)
                    self._seal = None
                except NvmProgramError as exc:   # mark slot unusable: SEALED on the next page
                    note_fault(self.faults, f"{self.name}: mark slot of page {self._cur} unusable ({exc})")
                    if seal is None:
                        self._seal = (self._cur, start)
        self._reclaimed = None
        if self.on_evict is not None and (self.evict_check is None or self.evict_check(nxt)):
            evicted = self._page_records.pop(nxt, [])
            if evicted:
                self.on_evict([r for r in evicted if r.kind not in _INTERNAL])
        else:
            self._forget_page(nxt)
        base = (self.first_page + nxt) * self.page_size
        if self.nvm.read(base, self.page_size) != b"\xff" * self.page_size:
            self.nvm.erase(self.first_page + nxt)
        self._cur, self._pos = nxt, 0
        if self._seal is not None:
            self._write(KIND_SEALED, struct.pack(">HH", *self._seal))
            self._seal = None
        if self.live is not None:
            dump = list(self.live())
            need = sum(OVERHEAD + len(payload) for _, payload in dump) + self._pos + _RESERVE
            if need > self.page_size:
                raise JournalFull(f"{self.name}: live records need {need} bytes, a page holds "
                                  f"{self.page_size}; keep state records smaller")
            for kind, payload in dump:
                self._write(kind, payload)

    def _note_written(self, record: Record) -> None:
        """Remember a record just committed on the write page."""
        self._page_records.setdefault(record.page, []).append(record)

    def _forget_page(self, page: int) -> None:
        """Drop what this journal knows it wrote on ``page`` (about to be erased), unread."""
        self._page_records.pop(page, None)

    def records_on(self, page: int) -> int:
        """Records this journal knows are on ``page`` (internal markers excluded)."""
        return sum(1 for r in self._page_records.get(page, ()) if r.kind not in _INTERNAL)

    def verify_page(self, page: int) -> list[tuple[int, int, str, int]]:
        """Re-read one page and compare it with what this journal knows it wrote there;
        returns (page, offset, 'corruption' | 'tamper', seq) for each record that changed."""
        data = self.nvm.read((self.first_page + page) * self.page_size, self.page_size)
        records = self._page_records.get(page, [])
        known = (len(records), records[0].seq, records[-1].seq) if records else None
        cached, key = self._scrub_lookup(page, data, known)
        if cached is not None:
            return list(cached)
        changed = []
        base = (self.first_page + page) * self.page_size
        for record in records:
            if base + record.offset == self._finish:
                continue  # rolled forward at boot; its commit byte is finished before the next write
            status, _, parsed = self._parse(data, record.offset)
            if data[record.offset] != STATE_COMMITTED or status != "ok" or parsed.payload != record.payload:
                changed.append((page, record.offset, "tamper" if status == "bad-mac" else "corruption",
                                record.seq))
        self._scrub_store(page, key, changed)
        return changed

    def _scrub_lookup(self, page: int, data: bytes, known) -> tuple[tuple | None, bytes]:
        """The result of the last ``verify_page(page)`` when neither the page's bytes nor what
        the journal knows it wrote there changed since (the same check would give the same
        answer); else None. Returns the key to store the new result under: the first
        ``SCRUB_KEY_BYTES`` of SHA-256 over the page, what is known of it and the rolled-forward
        commit address (an all-zero key is never a hit: it only costs a re-check)."""
        h = hashlib.sha256(data)
        h.update(_SCRUB_FACTS.pack(*(known or (-1, -1, -1)), -1 if self._finish is None else self._finish))
        key = h.digest()[:SCRUB_KEY_BYTES]
        cache = self._scrub_cache
        if cache is not None:
            at = page * SCRUB_KEY_BYTES
            if cache[0][at:at + SCRUB_KEY_BYTES] == key and key != _NO_KEY:
                return cache[1].get(page, ()), key
        return None, key

    def _scrub_store(self, page: int, key: bytes, changed: list) -> None:
        """Keep ``key`` in the page's slot of one flat bytearray (grown to the highest page
        scrubbed, not an object per page) and the findings only when there are some."""
        cache = self._scrub_cache
        if cache is None:
            cache = self._scrub_cache = (bytearray(), {})
        keys, found = cache
        at = page * SCRUB_KEY_BYTES
        if len(keys) < at + SCRUB_KEY_BYTES:
            keys.extend(bytes(at + SCRUB_KEY_BYTES - len(keys)))
        keys[at:at + SCRUB_KEY_BYTES] = key
        if changed:
            found[page] = tuple(changed)
        else:
            found.pop(page, None)

    # ------------------------------------------------------------------ read side
    def read_page(self, page: int) -> list[Record]:
        """Committed records on one page as they are on flash now, CRC- and HMAC-verified
        (damaged or uncommitted ones left out); for reading history on demand. The record whose
        commit recovery rolled forward (its commit byte is finished before the next write) is
        served as boot served it."""
        base = (self.first_page + page) * self.page_size
        data = self.nvm.read(base, self.page_size)
        out: list[Record] = []
        partial: list[Record] = []
        self._scan_page(page, data, out, partial)
        if self._finish is not None:
            rolled = [r for r in partial if base + r.offset == self._finish]
            if rolled:
                out = sorted(out + rolled, key=lambda r: r.offset)
        return [r for r in out if r.kind not in _INTERNAL]

    @property
    def write_page(self) -> int:
        """Page (within the journal) that the last record went to / the next one goes to."""
        return self._cur

    # ------------------------------------------------------------------ introspection
    def records_in_ram(self) -> list[Record]:
        """Records the journal knows are on flash (after recover + appends), oldest first."""
        out = [r for recs in self._page_records.values() for r in recs if r.kind not in _INTERNAL]
        out.sort(key=lambda r: r.seq)
        return out

    @property
    def next_seq(self) -> int:
        """Sequence number of the next record (= records committed since the journal began)."""
        return self._next_seq

    @property
    def record_count(self) -> int:
        """Records currently on flash (internal markers excluded)."""
        return sum(1 for recs in self._page_records.values() for r in recs if r.kind not in _INTERNAL)

    @property
    def capacity_bytes(self) -> int:
        return self.page_count * self.page_size

    def fill_ratio(self) -> float:
        used = sum(1 for recs in self._page_records.values() if recs)
        return used / self.page_count


def _at_page(record: Record, page: int) -> Record:
    return Record(record.seq, record.kind, record.payload, page, record.offset, record.tag,
                  record.prev)


def _last_end(records: list[Record], page: int) -> int:
    ends = [r.offset + OVERHEAD + len(r.payload) for r in records if r.page == page]
    return max(ends) if ends else 0
