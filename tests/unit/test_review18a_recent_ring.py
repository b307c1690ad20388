"""Review of the interval registers' recent ring (uint32 offsets from one base)."""
import random

from sumame.firmware.metrology.registers import CACHE_MINUTES, Snapshot, _RecentRing

KEEP = {g: CACHE_MINUTES for g in (30, 15, 5, 1)}
M0 = 29_000_000


def _feed(ring, ref, minute, snap):
    ring[minute] = ref[minute] = snap.pack()
    for k in [k for k in ref if k < minute - CACHE_MINUTES]:
        del ref[k]
    assert dict(ring.items()) == ref


def test_counter_drop_recovers_offsets_after_the_old_counters_age_out():
    """A meter replaced (counters from 10 000 kWh back to ~0): the snapshots right after the
    drop do not fit next to the old ones and are kept whole; once the old ones are gone the
    ring must hold offsets again (not keep every slot whole for ever because the slot being
    written still holds the previous occupant's counters)."""
    ring, ref = _RecentRing(KEEP), {}
    fwd = 10_000 * 10**6
    for i in range(300):
        if i == 100:
            fwd = 5
        fwd += 1000
        _feed(ring, ref, M0 + i, Snapshot(M0 + i, 1 if i < 100 else 2, fwd, 0, 0, 0,
                                          230_000 * 60 * i, 230_000 * 60 * i, 60_000 * i))
    assert not ring._whole, f"{len(ring._whole)} slots still kept whole 200 min after the drop"


def test_counters_past_2_32_and_random_jumps_read_back_exactly():
    rnd = random.Random(18)
    ring, ref = _RecentRing(KEEP), {}
    vals = [2**32 - 50, 0, 2**33, 7, 2**40, 2**40, 10]
    for i in range(400):
        if rnd.random() < 0.05:   # a reset, a replacement, a chip fault's new session
            vals = [rnd.choice([0, 2**31, 2**32 - 1, 2**32 + 1, 2**63, 99_999_999_000])
                    for _ in vals]
        vals = [v + rnd.randrange(0, 3_000_000) for v in vals]
        vals = [min(v, 2**64 - 1) for v in vals]
        _feed(ring, ref, M0 + i, Snapshot(M0 + i, i // 50, *vals))


def test_span_of_exactly_2_32_is_kept_whole_and_2_32_minus_1_as_offsets():
    ring, ref = _RecentRing(KEEP), {}
    _feed(ring, ref, M0, Snapshot(M0, 1, 10, 0, 0, 0, 0, 0, 0))
    _feed(ring, ref, M0 + 1, Snapshot(M0 + 1, 1, 10 + 2**32 - 1, 0, 0, 0, 0, 0, 0))
    assert not ring._whole
    _feed(ring, ref, M0 + 2, Snapshot(M0 + 2, 1, 10 + 2**32, 0, 0, 0, 0, 0, 0))
    assert list(ring._whole) == [(M0 + 2) % ring.SLOTS]
    _feed(ring, ref, M0 + 3, Snapshot(M0 + 3, 1, 9, 0, 0, 0, 0, 0, 0))   # below the base
    _feed(ring, ref, M0 + 4, Snapshot(M0 + 4, 1, 8 + 2**32, 0, 0, 0, 0, 0, 0))


def test_bytes_whose_minute_is_not_the_key_read_back_unchanged():
    ring, ref = _RecentRing(KEEP), {}
    _feed(ring, ref, M0, Snapshot(M0, 1, 10, 0, 0, 0, 0, 0, 0))
    ring[M0 + 1] = ref[M0 + 1] = Snapshot(M0 + 7, 3, 11, 0, 0, 0, 0, 0, 0).pack()
    assert dict(ring.items()) == ref


def test_pop_of_a_whole_snapshot_frees_it():
    ring, ref = _RecentRing(KEEP), {}
    _feed(ring, ref, M0, Snapshot(M0, 1, 10, 0, 0, 0, 0, 0, 0))
    _feed(ring, ref, M0 + 1, Snapshot(M0 + 1, 1, 2**40, 0, 0, 0, 0, 0, 0))
    assert ring._whole
    assert ring.pop(M0 + 1) == ref.pop(M0 + 1)
    assert not ring._whole and dict(ring.items()) == ref and ring.pop(M0 + 1, "gone") == "gone"
