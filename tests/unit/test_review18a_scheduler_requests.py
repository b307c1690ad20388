"""Review of the scheduler's awaitable request objects (sleep, Event.wait, Queue.get, ...).

A request is awaited once, like the coroutines it replaced: awaiting it again (the same task
or another one) must fail loudly, never hand back a made-up value (an Event.wait() that says
True while the event is clear, a Queue.get() that returns None with nothing queued, a sleep
that returns at once)."""
import pytest

from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.core.scheduler import Event, Queue, Scheduler, sleep, readable


def _run(*coros):
    clock = VirtualClock(0)
    sched = Scheduler(clock, strict=False)
    tasks = [sched.spawn(c, name=f"t{i}") for i, c in enumerate(coros)]
    sched.run(until=100)
    return clock, tasks


def test_sleep_request_awaited_twice_raises():
    seen = []

    async def task():
        request = sleep(5)
        await request
        seen.append(("first", clock_now()))
        await request           # old code: RuntimeError (coroutine reused); never a 0-s sleep
        seen.append(("second", clock_now()))

    clock_now = lambda: clock.now()   # noqa: E731
    clock = VirtualClock(0)
    sched = Scheduler(clock, strict=False)
    t = sched.spawn(task(), name="t")
    sched.run(until=100)
    assert seen == [("first", 5.0)]
    assert isinstance(t.exception, RuntimeError)


def test_event_wait_request_reused_after_clear_raises():
    ev = Event()
    results = []

    async def waiter():
        request = ev.wait()
        results.append(await request)
        ev.clear()
        results.append(await request)   # the event is clear: True here would be a lie

    async def setter():
        await sleep(1)
        ev.set()

    _, (w, _s) = _run(waiter(), setter())
    assert results == [True]
    assert isinstance(w.exception, RuntimeError)


def test_event_wait_already_set_request_reused_raises():
    ev = Event()
    ev.set()
    results = []

    async def waiter():
        request = ev.wait()
        results.append(await request)     # set: finishes at once
        ev.clear()
        results.append(await request)

    _, (w,) = _run(waiter())
    assert results == [True]
    assert isinstance(w.exception, RuntimeError)


def test_queue_get_request_reused_raises_not_none():
    q = Queue()
    got = []

    async def getter():
        request = q.get()
        got.append(await request)
        got.append(await request)   # nothing queued: None here would be a made-up item

    async def putter():
        await sleep(1)
        q.put_nowait("a")

    _, (g, _p) = _run(getter(), putter())
    assert got == ["a"]
    assert isinstance(g.exception, RuntimeError)


def test_one_request_awaited_by_two_tasks_second_raises():
    """Task B awaits the request task A is parked on: B must not finish at once with True
    (the event is not set), and A still gets its wake-up."""
    ev = Event()
    shared = ev.wait()
    log = []

    async def a():
        log.append(("a", await shared))

    async def b():
        await sleep(1)
        log.append(("b", await shared))

    async def setter():
        await sleep(2)
        ev.set()

    clock, (ta, tb, _s) = _run(a(), b(), setter())
    assert ("b", True) not in log
    assert isinstance(tb.exception, RuntimeError)
    assert log == [("a", True)] and ta.exception is None


def test_request_driven_outside_scheduler_resumes_once():
    """A test driving a coroutine by hand (send) still gets the value sent in."""
    q = Queue()

    async def getter():
        return await q.get()

    coro = getter()
    request = coro.send(None)
    with pytest.raises(StopIteration) as stop:
        coro.send("item")
    assert stop.value.value == "item"
    assert request is not None


def _order_after(make_wait):
    """Task a awaits ``make_wait()`` (ready at once) then logs; task b (same priority, spawned
    after a) logs. Finishing at once means a logs before b runs."""
    log = []

    async def a():
        await make_wait()
        log.append("a")

    async def b():
        log.append("b")

    clock = VirtualClock(0)
    sched = Scheduler(clock)
    sched.spawn(a(), name="a")
    sched.spawn(b(), name="b")
    sched.run(until=1)
    return log


def test_wait_on_a_set_event_finishes_without_yielding():
    ev = Event()
    ev.set()
    assert _order_after(ev.wait) == ["a", "b"]


def test_get_from_a_queue_with_items_finishes_without_yielding():
    q = Queue()
    q.put_nowait(1)
    assert _order_after(q.get) == ["a", "b"]
    assert len(q) == 0


def test_sleep_zero_lets_the_other_ready_task_run_first():
    clock = VirtualClock(0)
    sched = Scheduler(clock)
    log = []

    async def spinner():
        for _ in range(3):
            await sleep(0)
            log.append("s")

    async def other():
        log.append("o")

    sched.spawn(spinner(), name="s")
    sched.spawn(other(), name="o")
    sched.run(until=1)
    assert log == ["o", "s", "s", "s"]
