"""The external-connection log: one entry per frame between the meter and an external device.

Entry (``Entry``): time (epoch s, shown in JST), peer ("ip:192.168.1.20", "wi-sun:fe80::1",
"iot:GAS00001"), direction (in / out), size (bytes on the medium's application layer) and
verdict (``Verdict``: accepted / sent, or refused and why). Append-only and bounded:

* RAM: the newest ``ram_entries`` (``EntryRing``: flat arrays, ~15 bytes an entry) — what the
  head-end reads (COSEM profile ``cosem.py``);
* flash: entries are batched (cost per frame: one tuple appended) and written as one journal
  record of the ``extlog`` partition every ``flush_s`` or ``flush_entries``; the journal's
  commit protocol means a power cut loses at most the unwritten batch, never serves a torn
  entry and raises no corruption alarm; the partition is a FIFO ring (oldest page reclaimed).

Batch payload: entries back to back, each ``>dBBHB`` (time, direction, verdict, size, peer
length) + peer (ASCII, at most ``PEER_MAX`` bytes). A batch that does not decode is skipped
with a note (the journal's CRC/HMAC already vouch for it, so that means a newer format).
"""
from __future__ import annotations

import struct
from array import array
from enum import IntEnum
from typing import NamedTuple

HEAD = struct.Struct(">dBBHB")
PEER_MAX = 48
BATCH_BYTES_MAX = 2048


class Direction(IntEnum):
    IN = 0
    OUT = 1


class Verdict(IntEnum):
    """Why a frame was accepted or refused (the COSEM log's enum; names are the CLI's text)."""

    ACCEPTED = 0          # in: handed to the route's decoder
    SENT = 1              # out: left the meter
    CUT_OFF = 2           # peer cut off by the head-end: dropped before parsing
    UNKNOWN_PEER = 3      # not on the allow-list / not a client the route admits
    RATE_LIMITED = 4      # over the route's rate limit or blocked as a DoS
    MALFORMED = 5         # did not decode
    NOT_ALLOWED = 6       # decoded, but asks for what this peer may not have (type, object, port)
    AUTH_FAILED = 7       # authentication failed (PANA/EAP, MIC, replay, forged source)
    CLIENT_LIMIT = 8      # the route's client / device limit is reached
    DROPPED = 9           # refused for another reason (detail in the event log)
    NOT_SENT = 10         # out: no session / send failed

    @property
    def text(self) -> str:
        return self.name.lower().replace("_", "-")

    @property
    def refused(self) -> bool:
        return self not in (Verdict.ACCEPTED, Verdict.SENT)


class Entry(NamedTuple):
    """One frame (a tuple: cheap to make, immutable)."""

    at: float
    peer: str
    direction: Direction
    size: int
    verdict: Verdict

    def pack(self) -> bytes:
        peer = self.peer.encode("ascii", "replace")[:PEER_MAX]
        return HEAD.pack(self.at, self.direction, self.verdict, min(self.size, 0xFFFF), len(peer)) + peer


def unpack_batch(payload: bytes) -> list[Entry]:
    """Entries of one flash batch; raises ValueError when it does not decode."""
    out, pos = [], 0
    while pos < len(payload):
        if pos + HEAD.size > len(payload):
            raise ValueError(f"entry header cut at byte {pos}")
        at, direction, verdict, size, n = HEAD.unpack_from(payload, pos)
        pos += HEAD.size
        if n > PEER_MAX or pos + n > len(payload):
            raise ValueError(f"peer of {n} bytes at byte {pos}")
        out.append(Entry(at, payload[pos:pos + n].decode("ascii", "replace"), Direction(direction),
                         size, Verdict(verdict)))
        pos += n
    return out


class EntryRing:
    """The newest ``maxlen`` entries, deque-like (append, extend, len, iteration oldest first,
    indexing, ``maxlen``), kept in flat arrays: time (double), size, direction + verdict, and the
    number of the peer's name in the ring's name table (one string per peer, shared by the
    ring's entries) — ~15 bytes an entry, not a tuple, a float and a string (~100 bytes), nor
    an 8-byte reference (a full ring of 4000 entries: 60 KiB, not 84). A name is dropped with
    the last entry that refers to it and its number is reused, so a flood from ever new source
    addresses costs nothing once its entries have left the ring (a name table that only grows
    would be unbounded memory for bad input). Reads make the ``Entry`` tuples again, equal to
    those appended."""

    __slots__ = ("maxlen", "_at", "_size", "_flags", "_peer", "_start", "_names", "_name_of", "_free")

    def __init__(self, maxlen: int):
        self.maxlen = maxlen
        self._at = array("d")
        self._size = array("I")
        self._flags = array("B")
        self._peer = array("H" if maxlen <= 0x10000 else "I")   # name numbers (< maxlen in use)
        self._names: dict[str, list] = {}   # peer -> [its number, entries naming it]
        self._name_of: list[str | None] = []   # number -> the shared string (None: free)
        self._free: list[int] = []
        self._start = 0          # slot of the oldest entry once the ring is full

    def __len__(self) -> int:
        return len(self._at)

    def append(self, entry: Entry) -> None:
        if not self.maxlen:
            return
        at, peer, direction, size, verdict = entry
        flags = int(direction) | int(verdict) << 1
        i = self._start
        full = len(self._at) >= self.maxlen
        if full:                    # the oldest entry leaves first: its number may be reused
            gone_pid = self._peer[i]
            gone = self._names[self._name_of[gone_pid]]
            gone[1] -= 1
            if not gone[1]:
                del self._names[self._name_of[gone_pid]]
                self._name_of[gone_pid] = None
                self._free.append(gone_pid)
        held = self._names.get(peer)
        if held is None:
            if self._free:
                pid = self._free.pop()
                self._name_of[pid] = peer
            else:
                pid = len(self._name_of)
                self._name_of.append(peer)
            held = self._names[peer] = [pid, 0]
        held[1] += 1
        pid = held[0]
        if not full:
            self._at.append(at)
            self._size.append(size)
            self._flags.append(flags)
            self._peer.append(pid)
            return
        self._at[i], self._size[i], self._flags[i], self._peer[i] = at, size, flags, pid
        self._start = (i + 1) % self.maxlen

    def extend(self, entries) -> None:
        for entry in entries:
            self.append(entry)

    def _entry(self, slot: int) -> Entry:
        flags = self._flags[slot]
        return Entry(self._at[slot], self._name_of[self._peer[slot]], Direction(flags & 1), self._size[slot],
                     Verdict(flags >> 1))

    def __getitem__(self, k: int) -> Entry:
        n = len(self._at)
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError("ring index out of range")
        return self._entry((self._start + k) % n)

    def __iter__(self):
        n = len(self._at)
        for k in range(n):
            yield self._entry((self._start + k) % n)

    def __bool__(self) -> bool:
        return bool(self._at)


class ExternalLog:
    """RAM ring + batched flash writes. ``append`` is the per-frame cost (O(1), no flash)."""

    def __init__(self, storage, *, ram_entries: int = 4000, flush_entries: int = 64):
        self.storage = storage
        self.entries = EntryRing(ram_entries)
        self.flush_entries = flush_entries
        self._pending: list[Entry] = []
        self._pending_bytes = 0
        self.written = 0          # entries committed to flash (this boot)
        self.restored = 0         # entries read back from flash at boot
        self.notes: list[str] = []

    def restore(self, batches: list[bytes]) -> None:
        """Load the batches the storage recovered at boot (oldest first)."""
        for i, payload in enumerate(batches):
            try:
                entries = unpack_batch(payload)
            except (ValueError, struct.error) as exc:
                self.notes.append(f"extlog batch {i} skipped: {exc}")
                continue
            self.entries.extend(entries)
            self.restored += len(entries)

    def append(self, entry: Entry) -> None:
        self.entries.append(entry)
        size = HEAD.size + min(len(entry.peer), PEER_MAX)
        limit = self._batch_limit()
        if self._pending and self._pending_bytes + size > limit:
            self.flush()        # the batch would not fit one record of the flash's page
        self._pending.append(entry)
        self._pending_bytes += size
        if len(self._pending) >= self.flush_entries or self._pending_bytes >= limit:
            self.flush()

    def _batch_limit(self) -> int:
        """Bytes of one batch: ``BATCH_BYTES_MAX``, or less when a record on the flash's page
        holds less (the board schema allows 256-byte pages)."""
        journal = getattr(self.storage, "journals", {}).get("extlog")
        return BATCH_BYTES_MAX if journal is None else min(BATCH_BYTES_MAX, journal.max_payload)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def flush(self) -> bool:
        """Write the pending batch as one journal record (True when committed or empty)."""
        if not self._pending:
            return True
        batch, self._pending, self._pending_bytes = self._pending, [], 0
        record = self.storage.append_extlog(b"".join(e.pack() for e in batch))
        if record is None:
            return False
        self.written += len(batch)
        return True
