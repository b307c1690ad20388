"""The HAL-level chip answers exactly what the register-level chip + driver answer over SPI:
energies, instantaneous values and the over-current alarm, through an outage and a load change."""
from sumame.boards import load_board
from sumame.firmware.core.clock import VirtualClock
from sumame.hal.errors import ChipReset
from sumame.hal.jst import parse_jst

START = parse_jst("2026-04-02T05:00")


def _pair(board_name):
    out = []
    for name in (board_name, f"{board_name}-fleet"):
        clock = VirtualClock(START)
        built = load_board(name, {"asic": {"profile_options": {"shared_days": 3}}}).build(clock, None)
        built.hardware.asic.start()
        out.append((clock, built.hardware.asic, built.emulated["chip"]))
    return out


def _compare(board_name, threshold_a, steps=400, step_s=37.0):
    (c1, full, chip1), (c2, hal, chip2) = _pair(board_name)
    assert type(full).__name__ == "Atm90e32" and type(hal).__name__ == "HalMeteringAsic"
    for chip in (chip1, chip2):
        chip.outage(START + 3600, START + 3600 + 900)
    alarms = {"full": 0, "hal": 0}
    full.set_current_alarm(threshold_a, lambda: alarms.__setitem__("full", alarms["full"] + 1))
    hal.set_current_alarm(threshold_a, lambda: alarms.__setitem__("hal", alarms["hal"] + 1))
    for k in range(steps):
        for c in (c1, c2):
            c.advance_to(c.now() + step_s)
        assert full.read_energy() == hal.read_energy(), f"energy differs at step {k}"
        assert full.read_instantaneous() == hal.read_instantaneous(), f"instantaneous differs at step {k}"
        assert full.read_status() == hal.read_status()
        chip1.poll_alarms()
        chip2.poll_alarms()
    assert alarms["full"] == alarms["hal"] > 0
    assert full.max_poll_interval_s == hal.max_poll_interval_s
    chip1.power_on_reset()   # both notice a reset of the chip, at the same poll
    chip2.power_on_reset()
    outcomes = []
    for asic in (full, hal):
        seen = []
        for _ in range(12):
            try:
                asic.read_energy()
                seen.append("ok")
            except ChipReset:
                seen.append("reset")
        outcomes.append(seen)
    assert outcomes[0] == outcomes[1] and "reset" in outcomes[0]


def test_lv_hal_chip_equals_register_level_chip():
    _compare("emulated-lv", 8.0)


def test_hv_hal_chip_equals_register_level_chip():
    _compare("emulated-hv", 0.5)


def test_next_over_current_bound_gives_the_scan_answer():
    """The fleet chip's shortcut (a per-day current bound of the shared profile) answers as the
    register-level scan: thresholds below, at and above the day's peak, through an outage."""
    from sumame.drivers.emulated.metering.atm90e32 import Atm90e32Model

    for board in ("emulated-lv", "emulated-hv"):
        (_, _, _), (clock, hal, chip) = _pair(board)
        assert hasattr(chip.profile, "current_bound")
        chip.outage(START + 7200, START + 9000)
        peak = max(chip._irms(e, p) for _, _, p in chip.profile.segments(START, START + 86400)
                   for e in (True, False))
        answers = []
        for factor in (0.2, 0.5, 0.9, 0.999, 1.0, 1.01, 1.5, 3.0):
            hal.set_current_alarm(peak * factor * float(chip.front_end.current_scale))
            for after in (START, START + 5000, START + 40000):
                fast = chip.next_over_current(after, 6 * 3600.0)
                assert fast == Atm90e32Model.next_over_current(chip, after, 6 * 3600.0), (board, factor, after)
                answers.append(fast)
        assert any(a is None for a in answers) and any(a is not None for a in answers)
