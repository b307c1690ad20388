"""The emulated chip keeps the load step it last read only for profiles that are pure step
functions of time (``fixed_steps``). A site profile is changed while it runs (a demand-response
override put on the EV charger for the minute in progress): the chip must see it at once."""
from sumame.drivers.emulated.iot.special.site import SiteModel, SiteProfile
from sumame.hal.jst import parse_jst
from sumame.tools.emulate.runtime import build_runtime

START = parse_jst("2026-04-01T22:00")


def test_an_override_on_the_minute_in_progress_is_seen_at_once():
    rt = build_runtime("emulated-lv", virtual=True, start_epoch=START)
    chip, asic = rt.built.emulated["chip"], rt.built.hardware.asic
    site = SiteModel(seed=3)
    chip.profile = SiteProfile(site, ("ev",))
    rt.scheduler.run(until=START + 90)            # 30 s into a minute
    before = asic.read_instantaneous().active_w
    minute = (START + 90) // 60 * 60
    site.overrides.append(("ev", minute, minute + 120, 5000.0))   # from this minute's start
    rt.scheduler.run(until=START + 93)            # the chip's DSP window, same minute
    after = asic.read_instantaneous().active_w
    assert after > before + 1000, (before, after)
    rt.close()
