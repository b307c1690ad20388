"""The ATM90E32 driver against the register-level chip model over the fake SPI bus."""
import pytest
from hypothesis import given, settings, strategies as st

from sumame.drivers import atm90e32_regs as R
from sumame.drivers.atm90e32 import Atm90e32, Atm90e32Config
from sumame.drivers.emulated.metering.atm90e32 import Atm90e32Model, FrontEnd
from sumame.drivers.emulated.profiles import ConstantProfile, ResidentialProfile
from sumame.drivers.emulated.metering.spi import FakeSpiDev
from sumame.firmware.core.clock import VirtualClock
from sumame.hal.errors import BusError
from sumame.hal.jst import from_jst

T0 = from_jst(2026, 6, 1)


def rig(profile, config=Atm90e32Config(), front=FrontEnd()):
    clock = VirtualClock(T0)
    chip = Atm90e32Model(profile, clock, front)
    spi = FakeSpiDev(chip)
    spi.open(0, 0)
    driver = Atm90e32(spi, config)
    driver.start()
    return clock, chip, spi, driver


def true_mwh(profile, a, b):
    fwd = rev = 0.0
    for x, y, p in profile.segments(a, b):
        if p.power_w >= 0:
            fwd += p.power_w * (y - x)
        else:
            rev -= p.power_w * (y - x)
    return fwd / 3.6, rev / 3.6


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(min_value=0.5, max_value=90), min_size=5, max_size=60), st.integers(0, 50))
def test_energy_is_exact_whatever_the_poll_schedule(gaps, seed):
    profile = ResidentialProfile(seed=seed)
    clock, chip, _, driver = rig(profile)
    t = T0 + 10 * 3600  # mid-morning: import and export both happen
    clock.advance_to(t)
    driver.read_energy()
    fwd = rev = 0
    for gap in gaps:
        clock.advance_to(clock.now() + gap)
        d = driver.read_energy()
        fwd, rev = fwd + d.forward_mwh, rev + d.reverse_mwh
    want_fwd, want_rev = true_mwh(profile, t, clock.now())
    lsb = 20  # mWh per LSB with MC 1000 and current scale 2
    assert abs(fwd - want_fwd) <= lsb and abs(rev - want_rev) <= lsb


def test_energy_registers_clear_when_read():
    clock, chip, _, driver = rig(ConstantProfile(2000))
    clock.advance_to(T0 + 60)
    assert driver.read(R.AP_ENERGY_T) > 0
    assert driver.read(R.AP_ENERGY_T) == 0


def test_energy_register_wraps_when_polled_too_late():
    profile = ConstantProfile(power_w=20000, reactive_var=0)
    clock, chip, _, driver = rig(profile)
    within = driver.max_poll_interval_s * 0.9
    clock.advance_to(T0 + within)
    assert driver.read_energy().forward_mwh == pytest.approx(20000 * within / 3.6, abs=20)
    late = driver.max_poll_interval_s * 3
    clock.advance_to(clock.now() + late)
    got = driver.read_energy().forward_mwh
    assert got < 20000 * late / 3.6 * 0.5  # high bits lost, as on the chip


def test_instantaneous_values_split_on_the_two_elements():
    clock, chip, _, driver = rig(ConstantProfile(3000, 600, 101, r_share=0.6))
    inst = driver.read_instantaneous()
    assert inst.active_w == pytest.approx(3000, abs=1)
    assert inst.voltage_v == (pytest.approx(101, abs=0.02), pytest.approx(101, abs=0.02))
    r, t = inst.current_a
    assert r == pytest.approx(((1800 ** 2 + 360 ** 2) ** 0.5) / 101, abs=0.01)
    assert t == pytest.approx(((1200 ** 2 + 240 ** 2) ** 0.5) / 101, abs=0.01)
    assert inst.frequency_hz == 50


def test_export_gives_negative_currents_and_reverse_energy():
    clock, chip, _, driver = rig(ConstantProfile(-2500, 0, 102))
    inst = driver.read_instantaneous()
    assert inst.active_w < 0 and all(c < 0 for c in inst.current_a)
    clock.advance_to(T0 + 60)
    d = driver.read_energy()
    assert d.forward_mwh == 0 and d.reverse_mwh == pytest.approx(2500 * 60 / 3.6, abs=20)


def test_two_wire_has_no_t_element():
    cfg = Atm90e32Config(two_wire=True)
    clock, chip, _, driver = rig(ConstantProfile(1000), cfg, FrontEnd(two_wire=True))
    inst = driver.read_instantaneous()
    assert inst.current_a[1] is None and inst.voltage_v[1] is None
    assert driver.elements == ("R",)


def test_wrong_calibration_gives_wrong_readings():
    front = FrontEnd(ugain=0x7EAC)
    cfg = Atm90e32Config(ugain=0x7EAC * 11 // 10)  # driver configured 10 % high
    clock, chip, _, driver = rig(ConstantProfile(1000, 0, 100), cfg, front)
    assert driver.read_instantaneous().voltage_v[0] == pytest.approx(110, abs=0.1)


def test_configuration_needs_the_unlock_key():
    clock, chip, _, driver = rig(ConstantProfile(1000))
    before = driver.read(R.U_GAIN["A"])
    driver.write(R.U_GAIN["A"], 0x1234)  # locked after start(): ignored
    assert driver.read(R.U_GAIN["A"]) == before
    driver.write(R.CFG_REG_ACC_EN, R.CFG_UNLOCK)
    driver.write(R.U_GAIN["A"], 0x1234)
    assert driver.read(R.U_GAIN["A"]) == 0x1234
    assert driver.read(R.LAST_SPI_DATA) == 0x1234


def test_soft_reset_stops_metering_until_restarted():
    clock, chip, _, driver = rig(ConstantProfile(1000))
    driver.write(R.SOFT_RESET, R.SOFT_RESET_KEY)
    clock.advance_to(T0 + 600)
    assert driver.read(R.AP_ENERGY_T) == 0


def test_60hz_board():
    cfg = Atm90e32Config(line_frequency_hz=60)
    clock, chip, _, driver = rig(ConstantProfile(1000), cfg, FrontEnd(line_frequency_hz=60))
    assert driver.read_instantaneous().frequency_hz == 60
    assert driver.read(R.MMODE0) & R.MMODE0_FREQ60


def test_stuck_miso_is_a_bus_error():
    clock, chip, spi, driver = rig(ConstantProfile(1000))
    spi.stuck_miso = True
    with pytest.raises(BusError):
        driver.read_energy()
    with pytest.raises(BusError):
        driver.start()


def test_lost_writes_are_caught_at_start():
    clock = VirtualClock(T0)
    spi = FakeSpiDev(Atm90e32Model(ConstantProfile(1000), clock))
    spi.open()
    spi.drop_writes = True
    with pytest.raises(BusError, match="did not keep its configuration"):
        Atm90e32(spi).start()


def test_outage_stops_energy_and_voltage():
    clock, chip, _, driver = rig(ConstantProfile(1200))
    chip.outage(T0 + 60, T0 + 180)
    clock.advance_to(T0 + 120)
    assert driver.read_instantaneous().voltage_v[0] == 0
    clock.advance_to(T0 + 240)
    assert driver.read_energy().forward_mwh == pytest.approx(1200 * 120 / 3.6, abs=20)


def test_over_current_alarm_raises_the_irq():
    clock, chip, _, driver = rig(ConstantProfile(8000, 0, 100, r_share=0.5))
    alarms = []
    chip.irq = lambda s0, s1: driver.handle_irq()
    driver.set_current_alarm(30.0, lambda: alarms.append(driver.read_status()))  # 40 A > 30 A
    chip.poll_alarms()
    assert alarms and alarms[0].over_current
    assert chip.next_over_current(clock.now()) == clock.now()
    driver.set_current_alarm(50.0, lambda: alarms.append(driver.read_status()))
    assert chip.next_over_current(clock.now()) is None
    assert not driver.read_status().over_current
