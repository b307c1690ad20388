"""Cooperative scheduler: the firmware's own small loop (not asyncio).

Tasks are ``async def`` coroutines that await the primitives defined here:

* ``await sleep(seconds)`` / ``await sleep_until(epoch_s)``
* ``await event.wait(timeout=None)`` -> bool (False on timeout)
* ``await queue.get(timeout=None)`` / ``await queue.put(item)``
* ``await readable(fileobj, timeout=None)`` -> bool (real file descriptors: sockets, ptys, ttys)
* ``await yield_now()``

Runnable tasks run in priority order (lower number first; metering and storage before
communication), ties in the order they became ready. The clock decides how waiting works:
a ``VirtualClock`` jumps to the next deadline, a ``RealClock`` sleeps in ``selectors`` until a
descriptor is readable or the deadline comes. The same firmware runs unchanged on both.

The watchdog measures every step of every task (the code between two awaits) and reports a
step longer than ``watchdog_budget_s``; with ``watchdog_thread=True`` a monitor thread also
reports a task that is *still* running past its budget (a hung task), like a hardware watchdog
that barks before it bites.
"""
from __future__ import annotations

import heapq
import logging
import selectors
import threading
from collections import deque
from enum import IntEnum
from time import perf_counter, thread_time
from typing import Any, Callable, Coroutine

from sumame.hal.errors import PowerCut

log = logging.getLogger("sumame.scheduler")

FD_POLL_STEPS = 16
"""Steps run back to back (some task always ready) before descriptors are polled anyway, so a
busy loop — a fleet booting 10^5 meters, a flood — cannot starve sockets and ptys."""


class Priority(IntEnum):
    """Task priorities: lower runs first."""

    METERING = 0
    STORAGE = 1
    CONTROL = 2     # breaker, outage detection
    ROUTE = 4       # A-route / B-route / IoT-route applications
    COMMS = 6       # transports, modems
    UI = 9          # status display, logging sinks


class TaskCancelled(Exception):
    """Thrown into a task's coroutine when it is cancelled; ``finally`` blocks run."""


class Overrun:
    """One watchdog report: ``task`` ran ``seconds`` (wall) without yielding; ``cpu_seconds``
    of it on the CPU (less when the host preempted the process; None while still running)."""

    __slots__ = ("task", "seconds", "still_running", "cpu_seconds")

    def __init__(self, task: "Task", seconds: float, still_running: bool, cpu_seconds: float | None = None):
        self.task, self.seconds, self.still_running = task, seconds, still_running
        self.cpu_seconds = cpu_seconds

    def __repr__(self) -> str:
        state = "still running" if self.still_running else "yielded"
        return f"Overrun({self.task.name!r}, {self.seconds * 1e3:.1f} ms, {state})"


# --------------------------------------------------------------------------- primitives


class _Request:
    """What a task awaits: the object itself is the awaitable and the request the scheduler gets
    (no coroutine frame per primitive nor generator per wait: a parked task holds only its own
    frame and this object). The first step hands ``self`` (or ``_first()``'s value) to the
    scheduler, or finishes at once (an Event already set, a Queue with items); the resumption
    finishes with ``_result(value sent by the scheduler)``. A throw or close into the task acts
    at its ``await`` (no ``throw``/``close`` here).

    Awaited once, like a coroutine: ``_parked`` is False (not awaited yet), True (handed out,
    not to a scheduler: a test driving the coroutine by hand), the Task parked on it, or None
    (finished); awaiting it again, or from another task while one is parked on it, raises
    RuntimeError instead of finishing at once with a made-up value."""

    __slots__ = ("_parked",)

    def __await__(self):
        return self

    def __next__(self):
        return self.send(None)

    def send(self, value):
        state = self._parked
        if state is False:
            self._parked = True
            try:
                return self._first()
            except StopIteration:
                self._parked = None
                raise
        if state is None:
            raise RuntimeError("cannot reuse an already awaited scheduler request")
        if state is not True and state.scheduler._current is not state:
            raise RuntimeError(f"scheduler request already awaited by task {state.name}")
        self._parked = None
        raise StopIteration(self._result(value))

    def _first(self):
        return self

    def _result(self, value):
        return None


class _Sleep(_Request):
    __slots__ = ("seconds", "absolute")

    def __init__(self, seconds: float, absolute: bool):
        self.seconds, self.absolute = seconds, absolute
        self._parked = False


class _Yield(_Request):
    """``yield_now()`` / ``sleep(0)``: ready again at once."""

    __slots__ = ()

    def __init__(self):
        self._parked = False


_EVENT, _GET, _PUT = 0, 1, 2


class _Wait(_Request):
    """Park the task on a waitable (Event or Queue) with an optional timeout.

    kind: _EVENT (returns False on timeout), _GET (the item; TimeoutError on timeout), _PUT."""

    __slots__ = ("waitable", "timeout", "kind")

    def __init__(self, waitable, timeout: float | None, kind: int = _PUT):
        self.waitable, self.timeout, self.kind = waitable, timeout, kind
        self._parked = False

    def _first(self):
        kind, waitable = self.kind, self.waitable
        if kind == _EVENT:
            if waitable._set:
                raise StopIteration(True)
        elif kind == _GET and waitable._items:
            raise StopIteration(waitable.get_nowait())
        return self

    def _result(self, value):
        kind = self.kind
        if kind == _EVENT:
            return value is not _TIMED_OUT
        if kind == _GET:
            if value is _TIMED_OUT:
                raise TimeoutError("queue get timed out")
            return value
        return None


class _Readable(_Request):
    __slots__ = ("fileobj", "timeout")

    def __init__(self, fileobj, timeout: float | None):
        self.fileobj, self.timeout = fileobj, timeout
        self._parked = False

    def _result(self, value):
        return value is not _TIMED_OUT


_TIMED_OUT = object()


def sleep(seconds: float):
    """``await sleep(seconds)``: suspend the calling task for ``seconds`` of clock time (0 = yield)."""
    return _Sleep(seconds, False) if seconds > 0 else _Yield()


def sleep_until(epoch_s: float):
    """``await sleep_until(epoch_s)``: suspend until the clock reads ``epoch_s`` (returns at
    the next scheduling point if already past)."""
    return _Sleep(epoch_s, True)


def yield_now():
    """``await yield_now()``: let other ready tasks run."""
    return _Yield()


def readable(fileobj, timeout: float | None = None):
    """``await readable(fileobj, timeout)`` -> bool: wait until ``fileobj`` (anything with
    ``fileno()``) has data; False on timeout."""
    return _Readable(fileobj, timeout)


class Event:
    """A flag tasks can wait for. ``set()`` wakes every waiter; it stays set until ``clear()``."""

    __slots__ = ("_set", "_waiters")

    def __init__(self):
        self._set = False
        self._waiters: list[tuple[Task, int]] = []

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, []
        for task, token in waiters:
            task.scheduler._wake(task, token, True)

    def clear(self) -> None:
        self._set = False

    def _ready(self) -> bool:
        return self._set

    def _take(self):
        return True

    def wait(self, timeout: float | None = None):
        """``await event.wait(timeout)`` -> bool: wait until set; False if ``timeout`` seconds
        passed first (True at once if already set)."""
        return _Wait(self, timeout, _EVENT)


class QueueFull(Exception):
    """``put_nowait`` on a full bounded queue."""


_NO_ITEMS: deque = deque(maxlen=0)
"""Items of every empty Queue (shared, never appended to: ``put_nowait`` gives the queue its own)."""


class Queue:
    """FIFO between tasks (or from an interrupt-like callback into a task). ``maxsize=0`` = unbounded."""

    __slots__ = ("_items", "maxsize", "_waiters", "_putters")

    def __init__(self, maxsize: int = 0):
        self._items: deque = _NO_ITEMS   # a deque of its own only while items wait (~600 B each)
        self.maxsize = maxsize
        self._waiters: list[tuple[Task, int]] = []
        self._putters: list[tuple[Task, int]] = []

    def __len__(self) -> int:
        return len(self._items)

    def full(self) -> bool:
        return bool(self.maxsize) and len(self._items) >= self.maxsize

    def put_nowait(self, item) -> None:
        if self.full():
            raise QueueFull(f"queue full ({self.maxsize} items)")
        if self._items is _NO_ITEMS:
            self._items = deque()
        self._items.append(item)
        while self._waiters and self._items:
            task, token = self._waiters.pop(0)
            if task.scheduler._wake(task, token, self._items[0]):
                self._items.popleft()
        if not self._items:
            self._items = _NO_ITEMS

    def get_nowait(self):
        item = self._items.popleft()
        if not self._items:
            self._items = _NO_ITEMS
        while self._putters:
            task, token = self._putters.pop(0)
            if task.scheduler._wake(task, token, None):
                break
        return item

    def _ready(self) -> bool:
        return bool(self._items)

    def _take(self):
        return self.get_nowait()

    def get(self, timeout: float | None = None):
        """``await queue.get(timeout)``: the next item (at once if one waits); TimeoutError after
        ``timeout`` seconds with nothing queued."""
        return _Wait(self, timeout, _GET)

    async def put(self, item) -> None:
        while self.full():
            await _Wait(_PutSlot(self), None, _PUT)
        self.put_nowait(item)


class _PutSlot:
    """Waitable for a free slot in a bounded queue."""

    __slots__ = ("queue", "_waiters")

    def __init__(self, queue: Queue):
        self.queue = queue
        self._waiters = queue._putters

    def _ready(self) -> bool:
        return not self.queue.full()

    def _take(self):
        return None


# --------------------------------------------------------------------------- tasks


class Task:
    """A running coroutine with a name and a priority."""

    __slots__ = ("scheduler", "name", "priority", "coro", "seq", "done", "result",
                 "exception", "group", "_token", "_send", "_throw", "_fd")

    def __init__(self, scheduler: "Scheduler", coro: Coroutine, name: str, priority: int,
                 group=None):
        self.scheduler, self.coro, self.name, self.priority = scheduler, coro, name, int(priority)
        self.group = group
        self.seq = 0
        self.done = False
        self.result: Any = None
        self.exception: BaseException | None = None
        self._token = 0          # bumps at every wake; stale timers / waiters are ignored
        self._send: Any = None
        self._throw: BaseException | None = None
        self._fd = None

    def cancel(self) -> None:
        """Throw TaskCancelled into the task at its current await."""
        if not self.done and not self.scheduler._wake(self, self._token, None,
                                                      throw=TaskCancelled(self.name)):
            self._throw = TaskCancelled(self.name)  # already runnable: throw at its next step

    def take_handed(self) -> Any:
        """The value a wake-up handed this task that it has not run with yet (a queue item given
        to a waiting getter just before the loop stopped), now taken from it; None if none."""
        value, self._send = self._send, None
        return value

    def __repr__(self) -> str:
        return f"<Task {self.name} prio={self.priority}{' done' if self.done else ''}>"


class Scheduler:
    """Runs tasks on a clock. See the module docstring.

    strict:  re-raise an exception that escapes a task (tests); otherwise log it, keep the
             other tasks running and record it in ``crashed`` (emulation, field use).
    cpu_in_virtual_time: on a virtual clock, every step also advances the clock by the CPU
             time it took (thread CPU time, so a busy host does not count): a task that hogs
             the CPU makes every other task late in virtual time, as it would on the device.
    """

    def __init__(self, clock, *, watchdog_budget_s: float | None = None,
                 on_overrun: Callable[[Overrun], None] | None = None,
                 watchdog_thread: bool = False, strict: bool = True,
                 cpu_in_virtual_time: bool = False):
        self.clock = clock
        self.cpu_in_virtual_time = cpu_in_virtual_time and getattr(clock, "virtual", False)
        self.longest_step: tuple[float, str] = (0.0, "")
        """(seconds, task name) of the longest step so far (wall time)."""
        self.longest_cpu_step: tuple[float, str] = (0.0, "")
        """(seconds, task name) of the step that used the most CPU time so far."""
        self.strict = strict
        self.watchdog_budget_s = watchdog_budget_s
        self.on_overrun = on_overrun
        self.overruns: list[Overrun] = []
        self.crashed: list[Task] = []
        self.tasks: list[Task] = []
        self.steps = 0
        self.step_seconds = 0.0   # wall time spent inside tasks (for "share of time in scheduler")
        self._ready: list[tuple[int, int, Task]] = []
        self._timers: list[tuple[float, int, int, Task, int]] = []
        self._seq = 0
        self._selector: selectors.BaseSelector | None = None
        self._stop = False
        self._current: Task | None = None
        self.current_group = None
        """Group given to tasks spawned while a device boots, from inside a task or not."""
        self.power_cut_kills_group = False
        """When True, PowerCut escaping a task kills that task's group instead of stopping
        ``run()`` (fleets: one meter's supply dies, the others go on)."""
        self.dead_groups: list = []
        self._step_started = 0.0
        self._step_reported = False
        self._monitor: threading.Thread | None = None
        self._monitor_stop = threading.Event()
        if watchdog_thread and watchdog_budget_s:
            self._monitor = threading.Thread(target=self._watch, name="sumame-watchdog", daemon=True)
            self._monitor.start()

    # ---------------------------------------------------------------- public API
    def now(self) -> float:
        return self.clock.now()

    def spawn(self, coro: Coroutine, *, name: str, priority: int = Priority.COMMS,
              group=None) -> Task:
        """Start a task; it first runs at the next scheduling point.

        ``group`` ties tasks to one device (a meter in a fleet) so ``kill_group`` can stop them
        all; by default a task joins ``current_group`` while a device boots (even when the boot
        runs inside another device's task, e.g. the emulated mains bringing a meter back), else
        the group of the task spawning it."""
        if group is None:
            group = self.current_group
            if group is None and self._current is not None:
                group = self._current.group
        task = Task(self, coro, name, priority, group)
        if len(self.tasks) >= 512 and not len(self.tasks) % 512:
            self.tasks = [t for t in self.tasks if not t.done]
        self.tasks.append(task)
        self._push_ready(task)
        return task

    def stop(self) -> None:
        """Ask ``run()`` to return after the current step (safe from signal handlers)."""
        self._stop = True

    def run(self, until: float | None = None) -> None:
        """Run tasks until ``stop()``, until the clock reaches ``until``, or until nothing can
        ever run again. Can be called again to continue."""
        self._stop = False
        clock, ready, timers = self.clock, self._ready, self._timers
        pop = heapq.heappop
        busy = 0
        while not self._stop:
            now = clock.now()
            while timers and timers[0][0] <= now:
                _, _, _, task, token = pop(timers)
                self._wake(task, token, _TIMED_OUT)
            if ready:
                _, _, task = pop(ready)
                if not task.done:
                    self._step(task)
                busy += 1
                if busy >= FD_POLL_STEPS:     # always something ready: still hear the outside
                    busy = 0
                    self._poll_fds()
                continue
            busy = 0
            while timers and (timers[0][3].done or timers[0][4] != timers[0][3]._token):
                pop(timers)  # stale: its task was woken by something else meanwhile
            deadline = timers[0][0] if timers else None
            if until is not None and (deadline is None or deadline > until):
                if clock.virtual and not self._has_fds():
                    clock.advance_to(until)
                    return
                deadline = until
            if deadline is None and not self._has_fds():
                return  # every task waits for something only another task could give
            events = clock.wait(self._selector, deadline)
            for key, _mask in events:
                task, token = key.data
                self._wake(task, token, True)
            if until is not None and clock.now() >= until and not ready and not (
                    timers and timers[0][0] <= until):
                return

    def run_for(self, seconds: float) -> None:
        self.run(until=self.clock.now() + seconds)

    def close(self) -> None:
        """Orderly shutdown: cancel tasks from the least to the most important (communication
        first, metering and storage last), letting each run its ``finally`` blocks."""
        self._stop = False
        for task in sorted(self.live_tasks(), key=lambda t: (-t.priority, -t.seq)):
            try:
                task.coro.throw(TaskCancelled(task.name))
            except (StopIteration, TaskCancelled):
                pass
            except PowerCut:
                raise
            except Exception:  # noqa: BLE001 - shutting down; report and go on
                log.exception("task %s failed while shutting down", task.name)
            finally:
                task.coro.close()
                task.done = True
        self._monitor_stop.set()
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        self._ready.clear()
        self._timers.clear()

    def kill_group(self, group) -> int:
        """Stop every task of ``group`` where it is (power gone): no further steps run. Their
        ``finally`` blocks do run; anything they do that needs power fails. Returns the count."""
        killed = 0
        for task in sorted(self.tasks, key=lambda t: (-t.priority, -t.seq)):
            if task.group == group and not task.done and task is not self._current:
                task.done = True
                if task._fd is not None and self._selector is not None:
                    self._selector.unregister(task._fd)
                    task._fd = None
                try:
                    task.coro.close()
                except (PowerCut, Exception):  # noqa: BLE001 - the device is dead anyway
                    pass
                killed += 1
        self.tasks = [t for t in self.tasks if not t.done]
        return killed

    def live_tasks(self) -> list[Task]:
        return [t for t in self.tasks if not t.done]

    def next_deadline(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    # ---------------------------------------------------------------- internals
    def _push_ready(self, task: Task) -> None:
        self._seq += 1
        task.seq = self._seq
        heapq.heappush(self._ready, (task.priority, self._seq, task))

    def _wake(self, task: Task, token: int, value, throw: BaseException | None = None) -> bool:
        """Make a parked task runnable with ``value``; False if it was already woken."""
        if task.done or token != task._token:
            return False
        task._token += 1
        if task._fd is not None:
            self._selector.unregister(task._fd)
            task._fd = None
        task._send, task._throw = value, throw
        self._push_ready(task)
        return True

    def _poll_fds(self) -> None:
        """Wake the tasks whose descriptors are readable now, without waiting."""
        if self._selector is not None and self._selector.get_map():
            for key, _mask in self._selector.select(timeout=0):
                task, token = key.data
                self._wake(task, token, True)

    def _has_fds(self) -> bool:
        return self._selector is not None and bool(self._selector.get_map())

    def _step(self, task: Task) -> None:
        self._current = task
        self._step_reported = False
        t0 = self._step_started = perf_counter()
        c0 = thread_time()
        send, throw = task._send, task._throw
        task._send = task._throw = None
        try:
            if throw is not None:
                request = task.coro.throw(throw)
            else:
                request = task.coro.send(send)
        except StopIteration as stop:
            task.done, task.result = True, stop.value
            return
        except TaskCancelled:
            task.done = True
            return
        except PowerCut:
            task.done = True
            if not self.power_cut_kills_group or task.group is None:
                raise
            self.kill_group(task.group)
            self.dead_groups.append(task.group)
            return
        except Exception as exc:  # noqa: BLE001 - a task crashed
            task.done, task.exception = True, exc
            self.crashed.append(task)
            if self.strict:
                raise
            log.exception("task %s crashed", task.name)
            return
        finally:
            elapsed = perf_counter() - t0
            cpu = thread_time() - c0
            self._current = None
            self.steps += 1
            self.step_seconds += elapsed
            if elapsed > self.longest_step[0]:
                self.longest_step = (elapsed, task.name)
            if cpu > self.longest_cpu_step[0]:
                self.longest_cpu_step = (cpu, task.name)
            if self.cpu_in_virtual_time:
                self.clock.advance_to(self.clock.now() + cpu)
            budget = self.watchdog_budget_s
            if budget is not None and elapsed > budget and not self._step_reported:
                self._report(Overrun(task, elapsed, still_running=False, cpu_seconds=cpu))
        self._park(task, request)

    def _park(self, task: Task, request) -> None:
        token = task._token
        kind = type(request)
        if kind is _Yield or request is None:
            if request is not None:
                request._parked = task
            task._token += 1
            self._push_ready(task)
        elif kind is _Sleep:
            request._parked = task
            deadline = request.seconds if request.absolute else self.clock.now() + request.seconds
            self._add_timer(task, deadline, token)
        elif kind is _Wait:
            request._parked = task
            waitable = request.waitable
            if waitable._ready():
                task._token += 1
                task._send = waitable._take()
                self._push_ready(task)
                return
            waiters = waitable._waiters
            if len(waiters) > 16:  # drop entries of tasks that timed out meanwhile
                waiters[:] = [(t, k) for t, k in waiters if not t.done and k == t._token]
            waiters.append((task, token))
            if request.timeout is not None:
                self._add_timer(task, self.clock.now() + request.timeout, token)
        elif kind is _Readable:
            request._parked = task
            if self._selector is None:
                self._selector = selectors.DefaultSelector()
            self._selector.register(request.fileobj, selectors.EVENT_READ, (task, token))
            task._fd = request.fileobj
            if request.timeout is not None:
                self._add_timer(task, self.clock.now() + request.timeout, token)
        else:
            raise TypeError(f"task {task.name} awaited {request!r}; use sumame.firmware.core.scheduler primitives")

    def _add_timer(self, task: Task, deadline: float, token: int) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (deadline, task.priority, self._seq, task, token))

    def _report(self, overrun: Overrun) -> None:
        self.overruns.append(overrun)
        log.warning("watchdog: task %s ran %.1f ms without yielding (budget %.1f ms)%s",
                    overrun.task.name, overrun.seconds * 1e3, self.watchdog_budget_s * 1e3,
                    " and is still running" if overrun.still_running else "")
        if self.on_overrun is not None:
            self.on_overrun(overrun)

    def _watch(self) -> None:
        """Monitor thread: report a task that is still running past its budget."""
        budget = self.watchdog_budget_s
        while not self._monitor_stop.wait(budget / 4):
            task = self._current
            if task is None or self._step_reported:
                continue
            elapsed = perf_counter() - self._step_started
            if elapsed > budget and task is self._current:
                self._step_reported = True
                self._report(Overrun(task, elapsed, still_running=True))
