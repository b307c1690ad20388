"""Per-minute hot paths. The fleet chip's one-call poll (``read_energy_voltage``) answers what ``read_energy()`` then
``read_voltage()`` answer — through an outage, the switch open, a chip reset and a frozen DSP —
and the metering task uses it; the shared-day profile's minute path gives the very points its
base profile's own steps give, scaled."""
from sumame.boards import load_board
from sumame.drivers.emulated.shared_profiles import SharedDayProfile
from sumame.firmware.core.clock import VirtualClock
from sumame.hal.errors import ChipReset
from sumame.hal.relay import ContactState
from sumame.hal.jst import parse_jst

START = parse_jst("2026-04-02T05:00")


def _chip(board):
    clock = VirtualClock(START)
    built = load_board(board, {"asic": {"profile_options": {"shared_days": 3}}}).build(clock, None)
    built.hardware.asic.start()
    return clock, built.hardware.asic, built.emulated


def _run(board, fused: bool, steps=900, step_s=23.0):
    clock, asic, emulated = _chip(board)
    chip = emulated["chip"]
    chip.outage(START + 3600, START + 3600 + 700)
    relay = emulated.get("relay")
    out = []
    for k in range(steps):
        clock.advance_to(clock.now() + step_s)
        if k in (300, 380) and relay is not None:      # the switch opens, then closes again
            chip.sync()
            relay.drive(ContactState.OPEN if k == 300 else ContactState.CLOSED)
        if k == 500:
            chip.frozen = True
        if k == 540:
            chip.frozen = False
        if k == 700:
            chip.power_on_reset()
        try:
            if fused:
                out.append(asic.read_energy_voltage())
            else:
                out.append((asic.read_energy(), asic.read_voltage()))
        except ChipReset:
            out.append("reset")
            asic.start()
    return out


def test_one_call_poll_equals_energy_then_voltage_lv():
    two = _run("emulated-lv-fleet", fused=False)
    one = _run("emulated-lv-fleet", fused=True)
    assert "reset" in two and any(v == (0.0, 0.0) for _, v in [x for x in two if x != "reset"])
    assert one == two


def test_one_call_poll_equals_energy_then_voltage_hv():
    assert _run("emulated-hv-fleet", fused=True, steps=400) == _run("emulated-hv-fleet", fused=False, steps=400)


def test_the_metering_task_polls_the_fleet_chip_in_one_call():
    from sumame.hal.jst import parse_jst as _p
    from sumame.tools.emulate.runtime import build_runtime

    start = _p("2026-04-01T00:00")
    rt = build_runtime("emulated-lv-fleet", virtual=True, start_epoch=start, poll_interval_s=60)
    asic = rt.meter.hw.asic
    calls = {"both": 0, "voltage": 0}
    both, voltage = asic.read_energy_voltage, asic.read_voltage

    def count(name, fn):
        def run():
            calls[name] += 1
            return fn()
        return run
    rt.meter.metering._read_both = count("both", both)
    rt.meter.metering._read_voltage = count("voltage", voltage)
    rt.scheduler.run(until=start + 3 * 3600)
    rt.close()
    assert calls["both"] >= 170 and calls["voltage"] == 0


def test_shared_day_minute_path_gives_the_base_points_scaled():
    clock, asic, _ = _chip("emulated-lv-fleet")
    profile = asic.profile
    assert isinstance(profile, SharedDayProfile)
    t = START - 7200.0
    while t < START + 3 * 86400:
        a, b, point = profile._step(t)
        base = profile._base(_midnight(a))
        ba, bb, bp = base._step(t)
        s = profile.scale
        assert (a, b) == (ba, bb)
        assert (point.power_w, point.reactive_var, point.voltage_v, point.r_share) == \
            (bp.power_w * s, bp.reactive_var * s, bp.voltage_v, bp.r_share)
        assert profile._step(t)[2] is point          # the same object within the minute
        t += 37.0


def _midnight(t):
    from sumame.hal.jst import jst_midnight
    return jst_midnight(t)


def test_grid_of_by_table_is_the_coarsest_grid_dividing_the_jst_minute():
    from sumame.firmware.metrology.registers import GRIDS, grid_of
    from sumame.hal.jst import JST_OFFSET_S

    for minute in range(29_584_000, 29_584_000 + 2 * 1440):
        local = minute + JST_OFFSET_S // 60
        assert grid_of(minute) == next(g for g in GRIDS if local % g == 0)
