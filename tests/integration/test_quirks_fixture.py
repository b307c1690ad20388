"""Issue 17, point 2 and 4: the HIL plugin's ``meter_quirks`` fixture (what a HEMS project's own
tests use), the live display's pause key and the emulate hook that joins the board's
``[quirks]`` section, ``--quirk-preset`` and ``--quirk`` -- each on a real meter in virtual time."""
from __future__ import annotations

import argparse
import json

import pytest

from sumame.firmware.core.scheduler import sleep
from sumame.firmware.net.echonet import CONTROLLER, Eoj, Esv, Frame, Property
from sumame.tools.control import Operator
from sumame.tools.emulate.cli import _extra_rows, _on_key
from sumame.tools.quirks import CliError, before_boot

METER = Eoj(0x02, 0x88, 0x01)
EPCS = (0xE7, 0xE8, 0xE0)


def _ask(rt, tid: int):
    """One Get of three EPCs from an in-process HEMS; the answer frame (or None)."""
    app = next(s for s in rt.meter.services if s.name == "b-route")
    peer = app.inproc.peer("hems")
    out = []

    async def hems():
        out.append(await peer.request(Frame(tid, CONTROLLER, METER, Esv.GET,
                                            tuple(Property(e) for e in EPCS)), timeout=5.0))
        await sleep(0)
    rt.scheduler.spawn(hems(), name=f"hems-{tid}")
    rt.scheduler.run(until=rt.clock.now() + 6)
    return out[0]


def _answered(frame) -> list[int]:
    return [p.epc for p in frame.props if p.edt]


def test_the_meter_quirks_fixture_switches_profiles_on_and_off_and_reports(meter_factory, meter_quirks, tmp_path):
    rt = meter_factory(profile="constant", start="2026-04-01T09:00")
    rt.scheduler.run(until=rt.clock.now() + 5)
    engine = meter_quirks(rt, "opc-cap:max_opc=2")
    capped = _ask(rt, 1)
    assert capped.esv == Esv.GET_SNA and _answered(capped) == [0xE7, 0xE8]
    engine.off("opc-cap")
    assert _answered(_ask(rt, 2)) == list(EPCS)
    engine.on("values", reverse_flow=True)
    assert int.from_bytes(_ask(rt, 3).props[0].edt, "big", signed=True) < 0
    path, png = engine.write_report(tmp_path / "q.json")
    data = json.loads(path.read_text())
    assert data["profiles"]["values"]["fired"] >= 1 and data["traffic"]["requests"] == 3
    assert [e["what"] for e in data["log"] if e["quirk"] == "opc-cap"][:2] == ["on", "changed"]
    assert png is not None and png.stat().st_size > 1000


def test_the_pause_key_lets_every_frame_through_and_the_display_says_so(meter_factory, meter_quirks):
    rt = meter_factory(profile="constant", start="2026-04-01T09:00")
    rt.scheduler.run(until=rt.clock.now() + 5)
    operator = Operator(rt)
    assert _on_key("k", rt, operator).startswith("no quirks on")
    meter_quirks(rt, "opc-cap:max_opc=1")
    assert _answered(_ask(rt, 1)) == [0xE7]
    assert _on_key("k", rt, operator) == "quirks paused: opc-cap"
    assert ("quirks (paused)", "opc-cap fired 1") in _extra_rows(rt, "")
    assert _answered(_ask(rt, 2)) == list(EPCS)
    assert _on_key("k", rt, operator) == "quirks resumed: opc-cap"
    assert _answered(_ask(rt, 3)) == [0xE7]


def _args(quirk=None, preset=None):
    return argparse.Namespace(quirk=quirk, quirk_preset=preset, quirk_report=None)


def test_emulate_joins_the_board_section_the_preset_and_the_quirk_flags(meter_factory):
    rt = meter_factory(start="2026-04-01T09:00",
                       overrides={"quirks": {"profiles": ["values:reverse_flow=true"], "preset": "kansai-meter"}})
    engine = before_boot(rt, _args(["opc-cap:max_opc=3"], "late-announcer"))
    assert set(engine.quirks) == {"values", "utility-profile", "opc-cap", "announce"}
    assert engine.quirks["opc-cap"].params["max_opc"] == 3            # the flag wins over the preset
    clean = meter_factory(start="2026-04-01T09:00")
    assert before_boot(clean, _args()).quirks == {}                  # off unless asked for


@pytest.mark.parametrize("quirk, preset, said", [
    (None, "no-such-preset", "unknown quirk preset 'no-such-preset'; known: kansai-meter"),
    (["opc-cap:max_opc=0"], None, "between 1 and 20"),
    (["no-such:x=1"], None, "unknown quirk 'no-such'"),
])
def test_emulate_refuses_bad_quirks_in_one_line(meter_factory, quirk, preset, said):
    rt = meter_factory(start="2026-04-01T09:00")
    with pytest.raises(CliError) as caught:
        before_boot(rt, _args(quirk, preset))
    assert said in str(caught.value) and "\n" not in str(caught.value)
