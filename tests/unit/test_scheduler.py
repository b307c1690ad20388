"""Cooperative scheduler: ordering, virtual/real clocks, primitives, watchdog, shutdown."""
import os
import threading
import time

import pytest

from sumame.firmware.core.clock import RealClock, VirtualClock
from sumame.firmware.core.scheduler import (Event, Priority, Queue, Scheduler, TaskCancelled,
                                       readable, sleep, sleep_until, yield_now)


def test_priorities_run_first_at_the_same_time():
    clock = VirtualClock(1000)
    s = Scheduler(clock)
    order = []

    async def task(name):
        for _ in range(2):
            order.append((name, clock.now()))
            await sleep(10)

    s.spawn(task("comms"), name="comms", priority=Priority.COMMS)
    s.spawn(task("ui"), name="ui", priority=Priority.UI)
    s.spawn(task("metering"), name="metering", priority=Priority.METERING)
    s.run(until=1015)
    assert [n for n, _ in order] == ["metering", "comms", "ui"] * 2
    assert [t for _, t in order] == [1000] * 3 + [1010] * 3


def test_virtual_clock_jumps_to_the_next_deadline_without_waiting():
    clock = VirtualClock(0)
    s = Scheduler(clock)
    seen = []

    async def sleeper():
        await sleep(86400 * 365)
        seen.append(clock.now())

    s.spawn(sleeper(), name="year")
    wall = time.perf_counter()
    s.run()
    assert seen == [86400 * 365]
    assert time.perf_counter() - wall < 5  # behaviour: it did not actually wait a year


def test_run_until_stops_at_the_given_time_and_can_continue():
    clock = VirtualClock(0)
    s = Scheduler(clock)
    ticks = []

    async def ticker():
        while True:
            await sleep(60)
            ticks.append(clock.now())

    s.spawn(ticker(), name="tick")
    s.run(until=150)
    assert ticks == [60, 120] and clock.now() == 150
    s.run(until=300)
    assert ticks == [60, 120, 180, 240, 300]


def test_sleep_until_absolute_and_past_deadline():
    clock = VirtualClock(100)
    s = Scheduler(clock)
    seen = []

    async def t():
        await sleep_until(130)
        seen.append(clock.now())
        await sleep_until(50)  # already past: returns at once
        seen.append(clock.now())

    s.spawn(t(), name="t")
    s.run()
    assert seen == [130, 130]


def test_event_wait_with_timeout():
    clock = VirtualClock(0)
    s = Scheduler(clock)
    ev = Event()
    results = []

    async def waiter(timeout):
        results.append((timeout, await ev.wait(timeout=timeout), clock.now()))

    async def setter():
        await sleep(20)
        ev.set()

    s.spawn(waiter(10), name="short")
    s.spawn(waiter(100), name="long")
    s.spawn(setter(), name="setter")
    s.run()
    assert sorted(results) == [(10, False, 10), (100, True, 20)]


def test_queue_fifo_timeout_and_bounded_put():
    clock = VirtualClock(0)
    s = Scheduler(clock)
    q = Queue(maxsize=2)
    got = []

    async def producer():
        for i in range(5):
            await q.put(i)  # blocks while the queue holds 2 items

    async def consumer():
        await sleep(5)
        while True:
            try:
                got.append((await q.get(timeout=30), clock.now()))
            except TimeoutError:
                got.append(("timeout", clock.now()))
                return

    s.spawn(producer(), name="p")
    s.spawn(consumer(), name="c")
    s.run()
    assert [g for g, _ in got] == [0, 1, 2, 3, 4, "timeout"]
    assert got[-1][1] == 35


def test_same_program_same_event_order():
    def program():
        clock = VirtualClock(0)
        s = Scheduler(clock)
        log = []

        async def worker(i):
            for k in range(5):
                await sleep((i * 7 + k * 3) % 5 + 1)
                log.append((clock.now(), i, k))

        for i in range(6):
            s.spawn(worker(i), name=f"w{i}", priority=i % 3)
        s.run()
        return log

    assert program() == program()


def test_readable_on_a_pipe_with_the_real_clock():
    r, w = os.pipe()
    s = Scheduler(RealClock())
    got = []

    async def reader():
        ok = await readable(r, timeout=5)
        got.append((ok, os.read(r, 10)))

    threading.Timer(0.05, lambda: os.write(w, b"hello")).start()
    s.spawn(reader(), name="reader")
    s.run()
    os.close(r)
    os.close(w)
    assert got == [(True, b"hello")]


def test_readable_times_out():
    r, w = os.pipe()
    s = Scheduler(VirtualClock(0))
    got = []

    async def reader():
        got.append(await readable(r, timeout=3))

    s.spawn(reader(), name="reader")
    s.run(until=10)
    os.close(r)
    os.close(w)
    assert got == [False]


def test_real_clock_ratio_runs_meter_time_faster():
    clock = RealClock(start_epoch_s=1_000_000, ratio=100.0)
    s = Scheduler(clock)
    seen = []

    async def t():
        await sleep(5)  # 5 s of meter time = 50 ms of host time
        seen.append(clock.now())

    s.spawn(t(), name="t")
    s.run()
    assert seen and seen[0] >= 1_000_005


def test_real_clock_rejects_non_positive_ratio():
    with pytest.raises(ValueError):
        RealClock(ratio=0)


def test_watchdog_reports_a_step_over_budget():
    reports = []
    s = Scheduler(VirtualClock(0), watchdog_budget_s=0.01, on_overrun=reports.append)

    async def hog():
        end = time.perf_counter() + 0.05
        while time.perf_counter() < end:
            pass
        await yield_now()

    async def polite():
        await yield_now()

    s.spawn(hog(), name="hog")
    s.spawn(polite(), name="polite")
    s.run()
    assert [r.task.name for r in reports] == ["hog"]
    assert reports[0].seconds >= 0.04


def test_watchdog_thread_reports_a_task_that_is_still_running():
    reports = []
    seen_while_running = threading.Event()

    def on_overrun(o):
        reports.append(o)
        if o.still_running:
            seen_while_running.set()

    s = Scheduler(VirtualClock(0), watchdog_budget_s=0.02, on_overrun=on_overrun, watchdog_thread=True)

    async def hung():
        seen_while_running.wait(timeout=5)  # spins until the watchdog barks
        await yield_now()

    s.spawn(hung(), name="hung")
    s.run()
    s.close()
    assert reports and reports[0].still_running and reports[0].task.name == "hung"


def test_orderly_shutdown_runs_finally_blocks_least_important_first():
    s = Scheduler(VirtualClock(0))
    closed = []

    async def task(name):
        try:
            while True:
                await sleep(1)
        finally:
            closed.append(name)

    s.spawn(task("metering"), name="metering", priority=Priority.METERING)
    s.spawn(task("ui"), name="ui", priority=Priority.UI)
    s.spawn(task("route"), name="route", priority=Priority.ROUTE)
    s.run(until=5)
    s.close()
    assert closed == ["ui", "route", "metering"]
    assert not s.live_tasks()


def test_cancel_throws_into_the_task():
    s = Scheduler(VirtualClock(0))
    seen = []

    async def victim():
        try:
            await sleep(100)
        except TaskCancelled:
            seen.append("cancelled")
            raise

    t = s.spawn(victim(), name="victim")
    s.run(until=1)
    t.cancel()
    s.run(until=2)
    assert seen == ["cancelled"] and t.done


def test_crashing_task_is_reported_and_others_keep_running_when_not_strict():
    s = Scheduler(VirtualClock(0), strict=False)
    ticks = []

    async def bad():
        await sleep(1)
        raise RuntimeError("boom")

    async def good():
        for _ in range(3):
            await sleep(1)
            ticks.append(1)

    s.spawn(bad(), name="bad")
    s.spawn(good(), name="good")
    s.run()
    assert len(ticks) == 3
    assert [t.name for t in s.crashed] == ["bad"]


def test_strict_scheduler_raises_the_task_exception():
    s = Scheduler(VirtualClock(0))

    async def bad():
        raise ValueError("bad task")

    s.spawn(bad(), name="bad")
    with pytest.raises(ValueError, match="bad task"):
        s.run()


@pytest.mark.parametrize("clock", [RealClock, lambda: VirtualClock(1_000_000)], ids=["real", "virtual"])
def test_a_busy_task_does_not_starve_descriptors(clock):
    """A task that is always ready (a fleet booting its meters one per step) must not keep a
    readable socket unheard: descriptors are polled every FD_POLL_STEPS (16) busy steps."""
    import socket

    s = Scheduler(clock())
    a, b = socket.socketpair()
    spins = {"n": 0, "at_read": None}

    async def busy():
        while spins["n"] < 100_000:
            spins["n"] += 1
            await yield_now()

    async def reader():
        assert await readable(a)
        assert a.recv(16) == b"ping"
        spins["at_read"] = spins["n"]
        s.stop()

    s.spawn(reader(), name="reader")
    s.spawn(busy(), name="busy", priority=Priority.UI)
    b.send(b"ping")
    try:
        s.run()
    finally:
        a.close()
        b.close()
    assert spins["at_read"] is not None and spins["at_read"] <= 64   # FD_POLL_STEPS is 16


def test_a_device_booting_inside_another_task_gets_its_own_group():
    """The emulated mains bring a meter back from inside the mains' task: what the meter's boot
    spawns must belong to the meter (``current_group``), not to the mains' group, or a power
    cut of that meter later kills the mains of every meter in the fleet."""
    sched = Scheduler(VirtualClock(0.0))
    groups = {}

    async def idle():
        await sleep(1)

    async def mains():
        groups["inherited"] = sched.spawn(idle(), name="plain").group
        previous, sched.current_group = sched.current_group, "meter:B"
        try:
            groups["booted"] = sched.spawn(idle(), name="boot-task").group
        finally:
            sched.current_group = previous

    sched.spawn(mains(), name="mains", group="hardware")
    sched.run(until=5)
    assert groups == {"inherited": "hardware", "booted": "meter:B"}
