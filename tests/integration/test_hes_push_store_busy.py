"""A push that arrives while another process holds the head-end database ("database is locked")
is neither lost nor kills the push receiver: it is stored once the database is free again, and
later pushes keep being ingested (issue 15, head-end keeps up)."""
import sqlite3

from aroute_helpers import meter, network

from sumame.firmware.net.dlms.wrapper import WrapperPdu
from sumame.tools.hes.engine import HeadEnd, HesConfig
from sumame.tools.hes.db.store import HesStore


def test_push_waits_out_a_locked_database_and_the_receiver_keeps_serving(tmp_path, caplog):
    rt = meter(settle_s=60)
    path = tmp_path / "hes.db"
    hes = HeadEnd(rt.scheduler, store=HesStore(path), config=HesConfig(), network=network(rt))
    hes.start()
    m = hes.add_meter(f"inproc://{rt.config.identity.serial}")
    for _ in range(600):
        if m.ready:
            break
        rt.scheduler.run_for(1)
    assert m.ready
    hes.store.commit()
    hes.store.db.execute("PRAGMA busy_timeout=20")           # ms: fail fast instead of 30 s
    pusher = next(s for s in rt.meter.services if s.name == "a-route").pusher
    receiver = next(t for t in hes.tasks if t.name == "hes-push")
    before = len(hes.store.intervals(grid=30))

    other = sqlite3.connect(path, isolation_level=None)      # another head-end process writing
    other.execute("BEGIN EXCLUSIVE")
    for _ in range(2400):                                    # the meter's next 30-min push arrives
        rt.scheduler.run_for(1)
        if hes.stats["pushes"] or receiver.done:
            break
    rt.scheduler.run_for(5)
    assert not receiver.done, f"push receiver died: {receiver.exception!r}"
    assert "locked" in caplog.text
    other.execute("ROLLBACK")
    other.close()
    rt.scheduler.run_for(10)
    assert len(hes.store.intervals(grid=30)) > before, "the push received during the lock was lost"
    assert hes.stats["pushes"] == 1 and hes.stats["bad_pushes"] == 0
    rows = len(hes.store.intervals(grid=30))
    hes.push_inbox.put_nowait(("meter", WrapperPdu(1, 0x30, pusher._apdu(pusher.interval)).encode()))
    rt.scheduler.run_for(1800)                                # later pushes still land
    assert not receiver.done
    assert hes.stats["pushes"] >= 2 and hes.stats["bad_pushes"] == 0
    assert len(hes.store.intervals(grid=30)) > rows
    hes.stop()
