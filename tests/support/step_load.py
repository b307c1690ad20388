"""A whole emulated meter (virtual time) whose chip sees a stepped load: the breaker tests' rig."""
import math

from sumame.boards import load_board
from sumame.drivers.emulated.profiles import LoadPoint, LoadProfile
from sumame.hal.jst import parse_jst
from sumame.tools.emulate.runtime import build_runtime

START = parse_jst("2026-04-01T00:00")
VOLTS = 101.0


class Steps(LoadProfile):
    """Per-element current (A, both elements alike) stepping at the given seconds after START."""

    name = "steps"

    def __init__(self, steps, base_a=5.0):
        self.steps = sorted(steps)
        self.base_a = base_a

    def _step(self, t):
        start, amps, end = -math.inf, self.base_a, math.inf
        for s, a in self.steps:
            if START + s <= t:       # absolute epochs: t - START may round below the step
                start, amps = START + s, a
            else:
                end = START + s
                break
        return start, end, LoadPoint(amps * VOLTS * 2, 0.0, VOLTS, 0.5)


def stepped_meter(board_name: str, steps, overrides: dict | None = None, **runtime):
    """Boot ``board_name`` (pushes off, ``overrides`` merged) at START with the chip on ``steps``."""
    board = load_board(board_name, {"aroute": {"push_transport": "none"}, **(overrides or {})})
    rt = build_runtime(board, virtual=True, start_epoch=START, **runtime)
    chip = rt.built.emulated["chip"]
    chip.profile = Steps(steps)
    chip._measured = chip._last_compute = None
    rt.extras["irq_line"]._replan.set()
    return rt
