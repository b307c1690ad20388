"""Assemble a running meter from a board: clock + scheduler + drivers + firmware.

Shared by ``sumame simulate``, ``sumame emulate``, the bench and the pytest HIL plugin, so all
of them boot the meter the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sumame.boards import BoardErrors, BoardNotFound, load_board
from sumame.hal.errors import HalError
from sumame.boards.build import Board, BuiltBoard
from sumame.drivers.emulated.profiles import ProfileError
from sumame.firmware.app import Meter, MeterConfig
from sumame.firmware.core.clock import RealClock, VirtualClock
from sumame.firmware.metrology.metering import MeteringConfig
from sumame.firmware.core.scheduler import Scheduler

from ..cli import CliError
from .hardware import spawn_hardware_tasks

RESET_DELAY_S = 1.0


@dataclass
class Runtime:
    board: Board
    config: MeterConfig
    built: BuiltBoard
    scheduler: Scheduler
    meter: Meter
    endpoints: list[tuple[str, str]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    on_reboot: list = field(default_factory=list)
    """Called with the new Meter after the emulated supply brought the meter back up."""

    @property
    def clock(self):
        return self.scheduler.clock

    def boot(self):
        """Power on: the emulated hardware's own tasks, then the firmware's boot."""
        spawn_hardware_tasks(self)
        if "power" in self.built.emulated:
            from .power_supervisor import attach
            attach(self)
        return self.meter.boot()

    @property
    def mains(self):
        """The emulated mains (PowerSupervisor): ``outage_now(s)``, ``schedule_outage(t, s)``."""
        return self.extras["power"]

    resets: int = 0

    def request_reset(self) -> None:
        """The firmware's system reset (after a firmware activation or a failed self-test): the
        meter shuts down in order (counters saved) and boots again on the same hardware, from
        a task outside the meter's group so the reset survives the meter it stops."""
        from sumame.firmware.core.scheduler import Priority, sleep

        async def reset() -> None:
            await sleep(RESET_DELAY_S)    # the answer that asked for the reset goes out first
            old = self.meter
            old.shutdown()
            meter = Meter(self.config, self.built.hardware, self.scheduler, old.storage.layout)
            self.meter = meter
            self.resets += 1
            task.group = meter.group    # what boot spawns from this task belongs to the new meter
            meter.boot()
            for callback in self.on_reboot:
                callback(meter)
        task = self.scheduler.spawn(reset(), name="system-reset", priority=Priority.STORAGE, group="system-reset")

    def close(self) -> None:
        """Release tasks and files (the meter is not shut down: use meter.shutdown())."""
        if self.scheduler.live_tasks():
            self.scheduler.close()
        for name in ("flash", "code_flash"):
            flash = self.built.emulated.get(name)
            if flash is not None:
                flash.close()


def open_board(name: str, overrides: dict | None = None) -> Board:
    try:
        return load_board(name, overrides)
    except (BoardErrors, BoardNotFound) as exc:
        raise CliError(str(exc)) from None


def build_runtime(board: Board | str, *, virtual: bool, start_epoch: float | None = None,
                  ratio: float = 1.0, state_dir: Path | None = None, profile: str | None = None,
                  seed: int | None = None, poll_interval_s: float | None = None,
                  strict: bool = True, watchdog_thread: bool = False,
                  record_flash_ops: bool = False, boot: bool = True) -> Runtime:
    """Build (and by default boot) a meter. ``virtual`` picks VirtualClock vs RealClock."""
    if isinstance(board, str):
        board = open_board(board)
    if virtual:
        if start_epoch is None:
            raise ValueError("a virtual clock needs a start time")
        clock = VirtualClock(start_epoch)
    else:
        clock = RealClock(start_epoch, ratio)
    config = board.meter_config()
    if virtual:  # virtual time never opens real network sockets
        options = dict(config.options)
        options["broute"] = {**options.get("broute", {}), "serve_ip": False}
        options["aroute"] = {**options.get("aroute", {}), "serve_ip": False}
        config = replace(config, options=options)
    if poll_interval_s is not None:
        config = replace(config, metering=MeteringConfig(poll_interval_s, poll_interval_s))
    try:
        built = board.build(clock, state_dir, profile=profile, seed=seed, record_flash_ops=record_flash_ops,
                            code_flash=True)
    except ProfileError as exc:
        raise CliError(str(exc)) from None
    except HalError as exc:   # a part the board names is missing or refuses its settings
        raise CliError(f"board {board.name}: {type(exc).__name__}: {exc}") from None
    code = built.hardware.extras.get("code_nvm")
    if code is not None:
        from ..firmware_image import factory_program
        try:
            factory_program(board, code, config.device_key)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    scheduler = Scheduler(clock, watchdog_budget_s=config.watchdog_budget_s, strict=strict,
                          watchdog_thread=watchdog_thread)
    if virtual:   # the A-route of a virtual-time meter talks over an in-process network
        from sumame.firmware.routes.aroute.inprocess import InProcessNetwork
        built.hardware.extras.setdefault("aroute_network", InProcessNetwork(scheduler))
    if code is not None:   # the reset line: bound to the runtime made just below
        built.hardware.extras["system_reset"] = lambda: runtime.request_reset()
    meter = Meter(config, built.hardware, scheduler)
    runtime = Runtime(board, config, built, scheduler, meter)
    if boot:
        runtime.boot()
    return runtime
