"""Two head-end processes on one database (a running ``hes run`` and a one-shot ``hes poll`` /
``limit``) share the invocation counter towards a meter through the store: after the one-shot
used counter values, the running head-end's next association is not refused as a replay."""
from aroute_helpers import meter, network, run

from sumame.tools.hes.engine import HeadEnd, HesConfig
from sumame.tools.hes.db.store import HesStore


def _head_end(rt, path, push_address):
    hes = HeadEnd(rt.scheduler, store=HesStore(path), config=HesConfig(push_address=push_address),
                  network=network(rt))
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
