"""Fleet load profiles: day data shared by every meter, loads still per meter and deterministic."""
import pytest

from sumame.drivers.emulated.profiles import ProfileError, make_profile
from sumame.hal.jst import parse_jst

START = parse_jst("2026-04-02T00:00")


def _watts(profile, hours=48):
    return [profile.at(START + m * 60).power_w for m in range(0, hours * 60, 7)]


def test_same_seed_same_watts_other_seed_other_watts():
    a = make_profile("residential", seed=11, start_epoch=START, shared_days=8)
    again = make_profile("residential", seed=11, start_epoch=START, shared_days=8)
    other = make_profile("residential", seed=12, start_epoch=START, shared_days=8)
    assert _watts(a) == _watts(again)
    assert _watts(a) != _watts(other)


def test_days_are_generated_once_for_the_whole_fleet():
    fleet = [make_profile("residential", seed=s, start_epoch=START, shared_days=4) for s in range(50)]
    libraries = {id(base) for p in fleet for base in p._library}
    assert len(libraries) == 4                       # 4 shared base profiles, not 50
    for p in fleet:
        p.at(START + 3600)
    days = {id(p._pick[1]._day(p._pick[0])) for p in fleet}
    assert len(days) <= 4                             # every meter reads one of the shared days


def test_shared_days_only_for_generated_profiles():
    with pytest.raises(ProfileError):
        make_profile("constant", seed=1, start_epoch=START, shared_days=4)
