"""Two head-end processes on one database (a running ``hes run`` and a one-shot ``hes poll`` /
``limit``) share the invocation counter towards a meter through the store: after the one-shot
used counter values, the running head-end's next association is not refused as a replay."""
from dataclasses import replace

from aroute_helpers import meter, network, run

from sumame.tools.hes.engine import HeadEnd, HesConfig
from sumame.tools.hes.db.store import HesStore


def _head_end(rt, path, push_address):
    hes = HeadEnd(rt.scheduler, store=HesStore(path), network=network(rt),
                  config=HesConfig(push_address=push_address, shared_store=True))   # as the CLI's
    hes.start()
    m = hes.add_meter(f"inproc://{rt.config.identity.serial}")
    for _ in range(600):
        if m.ready:
            break
        rt.scheduler.run_for(1)
    assert m.ready, "head-end did not discover the meter"
    return hes, m


def test_one_shot_poll_on_the_same_database_does_not_break_the_running_head_end(tmp_path):
    rt = meter(settle_s=60)
    path = tmp_path / "hes.db"
    running, m = _head_end(rt, path, "127.0.0.1:4060")
    assert run(rt, running.poll(m.id))["state"] == "supplied"
    running.store.commit()                                     # ``hes run`` commits every second
    one_shot, m2 = _head_end(rt, path, "127.0.0.1:4061")     # ``hes poll`` beside ``hes run``
    assert run(rt, one_shot.poll(m2.id))["state"] == "supplied"
    one_shot.stop()
    one_shot.store.close()
    running.store.commit()
    assert run(rt, running.poll(m.id))["state"] == "supplied"   # not refused as a replay
    assert run(rt, running.command(m.id, "open"))["ok"]
    running.stop()


def _counter(hes, m):
    """The counter a ciphered association with ``m`` would use now (as a session start sees it)."""
    return hes._settings(m).tx_counter


def _two_head_ends(tmp_path):
    """One meter and two head-ends on one store: ``hes run`` and a one-shot command, both
    committed (``hes run`` commits every second)."""
    rt = meter(settle_s=60)
    path = tmp_path / "hes.db"
    running, m = _head_end(rt, path, "127.0.0.1:4060")
    running.store.commit()
    one_shot, m2 = _head_end(rt, path, "127.0.0.1:4061")
    one_shot.store.commit()
    return rt, running, m, one_shot, m2


def test_two_head_end_processes_never_draw_the_same_invocation_counter(tmp_path):
    """Forced interleaving of two allocators on one store (``hes run`` and a one-shot ``hes limit``):
    both start a session before either drew a value, then draw in turn. Every value must be its
    own (a value drawn twice is a GCM nonce used twice, and the meter refuses the second)."""
    rt, running, m, one_shot, m2 = _two_head_ends(tmp_path)
    # a meter neither head-end has talked to yet: both sessions start before either drew a value
    fresh = dict(serial="SUMAME000777", tx_counter=None)
    a, b = _counter(running, replace(m, **fresh)), _counter(one_shot, replace(m2, **fresh))
    drawn = []
    for _ in range(5):                                      # ... and draw in turn
        drawn += [("run", a.next()), ("one-shot", b.next())]
    values = [v for _, v in drawn]
    assert len(set(values)) == len(values), drawn
    c = _counter(running, replace(m, **fresh))              # a later session goes above all of them
    assert c.next() > max(values)


def test_concurrent_sessions_of_two_head_end_processes_on_one_meter_are_not_refused(tmp_path):
    """``hes run`` polls a meter while a one-shot ``hes limit`` on the same database commands it:
    their associations interleave on the meter (forced: both tasks start in the same step).
    The meter refuses any invocation counter not above the last it accepted, so the two must not
    overlap: each waits for the other's session on that meter (a lease in the store), and both
    succeed."""
    rt, running, m, one_shot, m2 = _two_head_ends(tmp_path)
    for hes in (running, one_shot):     # two processes commit within a second; one thread: at once
        hes.store._touch = lambda n=1, store=hes.store: store.commit()
    for _ in range(3):
        t1 = rt.scheduler.spawn(running.poll(m.id), name="run-poll", group="test")
        t2 = rt.scheduler.spawn(one_shot.command(m2.id, "limit", 30), name="cli-limit", group="test")
        t3 = rt.scheduler.spawn(running.poll(m.id), name="run-poll-2", group="test")
        deadline = rt.clock.now() + 600
        while not (t1.done and t2.done and t3.done) and rt.clock.now() < deadline:
            rt.scheduler.run_for(0.5)
        assert t1.done and t2.done and t3.done
        assert t1.exception is None and t3.exception is None, (t1.exception, t3.exception)
        assert t2.result["ok"], t2.result
    running.stop()
    one_shot.stop()
