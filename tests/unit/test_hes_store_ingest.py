"""Ingest fast path of the head-end store: a repeated interval (every push repeats the previous
one) is judged duplicate or conflict from the rows kept in RAM, without a database round trip,
with exactly the verdicts and rows of the SQL check; older copies still go to the database."""
from sumame.tools.hes.db.store import HesStore

T0 = 1_775_000_000.0 // 1800 * 1800


def feed(store: HesStore) -> list[bool]:
    out = []
    for k in range(8):                       # each "push" carries interval k and k-1 again
        for j in (k - 1, k):
            if j >= 0:
                v = {"forward_wh": 100.0 + j, "voltage_r_v": 101.5}
                out.append(store.put_interval("m1", 30, T0 + 1800 * j, v, received_at=T0 + 1800 * k + 60,
                                              source="push", deadline_s=3600))
    out.append(store.put_interval("m1", 30, T0 + 1800 * 7, {"forward_wh": 999.0}, received_at=T0 + 9e4,
                                  source="push", deadline_s=3600))               # conflict, recent
    out.append(store.put_interval("m1", 30, T0, {"forward_wh": 5.0}, received_at=T0 + 9e4,
                                  source="poll", deadline_s=3600))                # conflict, long evicted
    out.append(store.put_interval("m1", 30, T0 + 1800, {"forward_wh": 101.0, "voltage_r_v": 101.5},
                                  received_at=T0 + 9e4, source="poll", deadline_s=3600))  # duplicate, evicted
    return out


def test_recent_rows_give_the_verdicts_of_the_sql_check():
    fast, slow = HesStore(), HesStore()
    slow.recent_rows = 0
    assert feed(fast) == feed(slow)
    assert (fast.stats.stored, fast.stats.duplicates, fast.stats.conflicts) == \
        (slow.stats.stored, slow.stats.duplicates, slow.stats.conflicts) == (8, 8, 2)
    assert fast.intervals() == slow.intervals()
    assert [r["forward_wh"] for r in fast.intervals()] == [100.0 + j for j in range(8)]


def test_a_repeated_interval_costs_no_database_statement():
    store = HesStore()
    store.put_interval("m1", 30, T0, {"forward_wh": 1.0}, received_at=T0, source="push", deadline_s=60)
    seen = []
    store.db.set_trace_callback(seen.append)
    assert not store.put_interval("m1", 30, T0, {"forward_wh": 1.0}, received_at=T0 + 1, source="push",
                                  deadline_s=60)
    assert not store.put_interval("m1", 30, T0, {"forward_wh": 2.0}, received_at=T0 + 1, source="push",
                                  deadline_s=60)
    assert seen == [] and (store.stats.duplicates, store.stats.conflicts) == (1, 1)
    store.purge(T0 + 4 * 365 * 86400)          # retention empties the table and the RAM copy with it
    assert store.put_interval("m1", 30, T0, {"forward_wh": 1.0}, received_at=T0, source="push", deadline_s=60)
