"""Scheduler(cpu_in_virtual_time=True): a step's CPU time also passes on the virtual clock, so a
task that hogs the CPU makes the others late in virtual time (issue 9); longest_step records it."""
import time

from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.core.scheduler import Priority, Scheduler, sleep_until


def hog_and_tick(cpu: bool):
    s = Scheduler(VirtualClock(0.0), cpu_in_virtual_time=cpu)
    late = []

    async def tick():
        for k in range(1, 4):
            await sleep_until(float(k))
            late.append(s.clock.now() - k)

    async def hog():
        await sleep_until(0.9)
        end = time.thread_time() + 0.2           # 0.2 s of CPU in one step
        while time.thread_time() < end:
            pass

    s.spawn(tick(), name="tick", priority=Priority.METERING)
    s.spawn(hog(), name="hog", priority=Priority.COMMS)
    s.run()
    return s, late


def test_cpu_time_delays_the_others_in_virtual_time():
    s, late = hog_and_tick(cpu=True)
    assert late[0] >= 0.09 and late[1] < 0.05 and late[2] < 0.05       # only the tick after the hog
    assert s.longest_cpu_step[1] == "hog" and s.longest_cpu_step[0] >= 0.19


def test_without_it_virtual_time_ignores_cpu():
    s, late = hog_and_tick(cpu=False)
    assert late == [0.0, 0.0, 0.0] and s.longest_step[1] == "hog"
