"""Load profiles: deterministic, exact step integration, CSV errors name file and line."""
import pytest

from sumame.drivers.emulated.profiles import (ConstantProfile, CsvProfile, ProfileError,
                                              ResidentialProfile, make_profile)
from sumame.hal.jst import from_jst

T0 = from_jst(2026, 6, 1)


def energy_wh(profile, a, b):
    return sum((y - x) * p.power_w for x, y, p in profile.segments(a, b)) / 3600


def test_same_seed_same_watts_whatever_the_query_order():
    p1, p2 = ResidentialProfile(seed=3), ResidentialProfile(seed=3)
    times = [T0 + k * 997 for k in range(200)]
    forward = [p1.at(t).power_w for t in times]
    backward = [p2.at(t).power_w for t in reversed(times)]
    assert forward == list(reversed(backward))
    assert forward != [ResidentialProfile(seed=4).at(t).power_w for t in times]


def test_residential_day_has_evening_import_and_midday_export():
    p = ResidentialProfile(seed=1, pv_kw=4.0)
    noon = [p.at(T0 + 12 * 3600 + m * 60).power_w for m in range(-60, 60)]
    evening = [p.at(T0 + 19 * 3600 + m * 60).power_w for m in range(-60, 60)]
    assert sum(noon) / len(noon) < 0 < min(evening)
    no_pv = ResidentialProfile(seed=1, pv_kw=0.0)
    assert all(no_pv.at(T0 + m * 60).power_w > 0 for m in range(0, 1440, 7))


def test_segments_cover_the_span_exactly():
    p = ResidentialProfile(seed=2)
    segs = list(p.segments(T0 + 30.5, T0 + 3 * 60 + 10))
    assert segs[0][0] == T0 + 30.5 and segs[-1][1] == T0 + 190
    assert all(a[1] == b[0] for a, b in zip(segs, segs[1:]))


def test_constant_profile_energy():
    p = ConstantProfile(power_w=1200)
    assert energy_wh(p, T0, T0 + 3600) == pytest.approx(1200)


def write(tmp_path, text):
    path = tmp_path / "load.csv"
    path.write_text(text)
    return path


def test_csv_replay_holds_values_and_repeats(tmp_path):
    path = write(tmp_path, "timestamp,W,var,V\n2024-08-01T00:00,100,10,101\n2024-08-01T12:00,-500,0,103\n")
    p = CsvProfile(path, T0)
    assert p.at(T0 + 3600).power_w == 100
    assert p.at(T0 + 13 * 3600).power_w == -500
    assert p.at(T0 + 86400 + 3600).power_w == 100  # the 1-day recording repeats


def test_csv_garbage_is_reported_with_file_and_line(tmp_path):
    path = write(tmp_path, "timestamp,W,var,V\n2024-08-01T00:00,100,10,101\n2024-08-01T00:01,abc,0,100\n"
                           "2024-08-01T00:02,5\n2024-07-31T23:59,1,1,100\n")
    with pytest.raises(ProfileError) as err:
        CsvProfile(path, T0)
    text = str(err.value)
    assert f"{path}:3" in text and f"{path}:4" in text and "4 columns" in text
    assert f"{path}:5" in text and "not after" in text


def test_csv_gaps_are_warned_about(tmp_path):
    path = write(tmp_path, "2024-08-01T00:00,100,10,101\n2024-08-01T03:00,200,10,101\n")
    p = CsvProfile(path, T0)
    assert p.warnings and "gap of 180 min" in p.warnings[0]


def test_unknown_profile_and_missing_file():
    with pytest.raises(ProfileError, match="unknown load profile"):
        make_profile("solar-farm", seed=1, start_epoch=T0)
    with pytest.raises(ProfileError, match="cannot read"):
        make_profile("/nonexistent/x.csv", seed=1, start_epoch=T0)


class _RelativeSteps(ConstantProfile):
    """A profile whose steps are placed relative to its start epoch (step at ``start + s``,
    compared as ``t - start >= s``): float rounding makes a step end at the very instant asked
    for, so it never moves on."""

    name = "relative-steps"

    def __init__(self, start, step_s):
        super().__init__()
        self.start, self.step_s = start, step_s

    def _step(self, t):
        if t - self.start >= self.step_s:
            return self.start + self.step_s, float("inf"), self.point
        return float("-inf"), self.start + self.step_s, self.point


def test_a_step_that_does_not_end_after_the_time_asked_is_an_error_not_an_endless_loop():
    import itertools
    p = _RelativeSteps(T0 + 0.1, 0.3)                # T0 + 0.1 + 0.3 rounds below T0 + 0.4
    assert (T0 + 0.1 + 0.3) - (T0 + 0.1) < 0.3       # the rounding this relies on
    with pytest.raises(ProfileError, match="relative-steps.*not after"):
        list(itertools.islice(p.segments(T0, T0 + 60), 1000))   # bounded even when broken
    assert energy_wh(_RelativeSteps(T0, 2.0), T0, T0 + 60) == pytest.approx(1000 * 60 / 3600)


@pytest.mark.parametrize("stamp", ["nan", "inf", "-inf"])
def test_csv_timestamp_that_is_not_a_finite_time_is_reported(tmp_path, stamp):
    path = tmp_path / "load.csv"
    path.write_text(f"1780000000,100,10,101\n1780000060,100,10,101\n{stamp},100,10,101\n"
                    "1780000180,100,10,101\n")
    with pytest.raises(ProfileError, match=r"load\.csv:3: timestamp"):
        CsvProfile(path, T0)
