"""ECHONET-side field-quirk profiles on real frames: each changes exactly what its finding says,
counts and logs it, and leaves everything else byte for byte alone."""
from __future__ import annotations

import struct

import pytest

from sumame.drivers.emulated.quirks.base import QuirkError
from sumame.drivers.emulated.quirks.engine import QuirkEngine
from sumame.drivers.emulated.quirks.registry import PRESETS, PROFILES, parse_spec, preset
from sumame.firmware.net.echonet import (CONTROLLER, Eoj, Esv, Frame, Property, decode, decode_property_map,
                                         encode, encode_property_map)

METER = Eoj(0x02, 0x88, 0x01)
PEER = ("127.0.0.9", 3610)


class Clock:
    def __init__(self, t=0.0):
        self.t = t

    def now(self):
        return self.t


def _get(tid, *epcs):
    return encode(Frame(tid, CONTROLLER, METER, Esv.GET, tuple(Property(e) for e in epcs)))


def _res(tid, props, esv=Esv.GET_RES):
    return encode(Frame(tid, METER, CONTROLLER, esv, tuple(Property(e, v) for e, v in props)))


def _engine(*specs, t=0.0):
    clock = Clock(t)
    engine = QuirkEngine(clock)
    for spec in specs:
        name, params = parse_spec(spec)
        engine.enable(name, params)
    return clock, engine


def test_no_quirk_passes_every_frame_untouched():
    _, engine = _engine()
    req, res = _get(1, 0xE7), _res(1, [(0xE7, b"\x00\x00\x03\xe8")])
    assert engine.inbound("ip", PEER, req, 0) == req
    assert engine.outbound("ip", PEER, res, 0) == [(0.0, res)]
    assert engine.traffic.requests == 1 and engine.traffic.answered == 1


def test_silent_spell_drops_requests_only_inside_its_windows():
    clock, engine = _engine("silent-spell:duration_s=60,every_s=600,at=100")
    t0 = clock.t
    assert engine.inbound("ip", PEER, _get(1, 0xE7), t0 + 50) is not None        # before the window
    assert engine.inbound("ip", PEER, _get(2, 0xE7), t0 + 120) is None           # inside
    assert engine.inbound("ip", PEER, _get(3, 0xE7), t0 + 200) is not None       # after it
    assert engine.inbound("ip", PEER, _get(4, 0xE7), t0 + 720) is None           # the next window
    assert engine.quirks["silent-spell"].fired == 2
    assert [e["what"] for e in engine.log].count("dropped") == 2


def test_kansai_answers_e3_ec_d3_with_sna_keeps_the_rest_and_shrinks_the_map():
    _, engine = _engine("utility-profile:preset=kansai")
    res = _res(7, [(0xE0, b"\x00\x00\x00\x10"), (0xE3, b"\x00\x00\x00\x02"), (0xD3, b"\x00\x00\x00\x01")])
    (_, out), = engine.outbound("ip", PEER, res, 0)
    frame = decode(out)
    assert frame.esv is Esv.GET_SNA
    assert frame.props == (Property(0xE0, b"\x00\x00\x00\x10"), Property(0xE3), Property(0xD3))
    full = [0x80, 0x81, 0x88, 0x8A, 0x9D, 0x9E, 0x9F, 0xD3, 0xD7, 0xE0, 0xE1, 0xE3, 0xE7, 0xEC]
    (_, out), = engine.outbound("ip", PEER, _res(8, [(0x9F, encode_property_map(full))]), 0)
    assert set(decode_property_map(decode(out).props[0].edt)) == set(full) - {0xE3, 0xEC, 0xD3}


def test_utility_profile_custom_needs_its_epcs():
    with pytest.raises(QuirkError, match="preset=custom needs sna"):
        _engine("utility-profile:preset=custom")
    with pytest.raises(QuirkError, match="must be hex EPCs"):
        _engine("utility-profile:preset=custom,sna=ZZ")


def test_opc_cap_truncates_to_the_first_n_and_answers_sna():
    _, engine = _engine("opc-cap:max_opc=5")
    epcs = [0x80, 0x81, 0x88, 0x8A, 0xD3, 0xD7, 0xE0, 0xE1]
    request = decode(engine.inbound("ip", PEER, _get(9, *epcs), 0))
    assert request.epcs == epcs[:5]
    (_, out), = engine.outbound("ip", PEER, _res(9, [(e, b"\x30") for e in epcs[:5]]), 0)
    assert decode(out).esv is Esv.GET_SNA and len(decode(out).props) == 5
    assert decode(engine.inbound("ip", PEER, _get(10, *epcs[:5]), 0)).epcs == epcs[:5]   # under the cap


def test_opc_cap_ignore_mode_gives_no_answer():
    _, engine = _engine("opc-cap:max_opc=7,mode=ignore")
    assert engine.inbound("ip", PEER, _get(1, *range(0xD0, 0xDA)), 0) is None


def test_slow_answer_delays_answers_not_announcements():
    _, engine = _engine("slow-answer:median_s=2,tail_s=15")
    delays = [engine.outbound("ip", PEER, _res(i, [(0xE7, b"\0\0\0\1")]), 0)[0][0] for i in range(200)]
    assert 0 < min(delays) and max(delays) <= 15
    assert 1.5 < sorted(delays)[100] < 2.7                                  # median near 2 s
    inf = encode(Frame(1, METER, Eoj(0x0E, 0xF0, 0x01), Esv.INF, (Property(0xEA, bytes(11)),)))
    assert engine.outbound("ip", None, inf, 0) == [(0.0, inf)]


def test_stale_and_dupes_duplicates_and_reorders():
    _, engine = _engine("stale-and-dupes:dup_prob=1,late_prob=0")
    res = _res(3, [(0xE7, b"\0\0\0\1")])
    assert [b for _, b in engine.outbound("ip", PEER, res, 0)] == [res, res]
    _, engine = _engine("stale-and-dupes:dup_prob=0,late_prob=1")
    first, second = _res(1, [(0xE7, b"\0\0\0\1")]), _res(2, [(0xE7, b"\0\0\0\2")])
    assert engine.outbound("ip", PEER, first, 0) == []                     # held back
    assert [b for _, b in engine.outbound("ip", PEER, second, 0)][:2] == [second, first]


def test_values_reverse_flow_and_sentinels_and_glitches():
    _, engine = _engine("values:reverse_flow=true")
    res = _res(4, [(0xE7, struct.pack(">i", 500)), (0xE8, struct.pack(">hh", 10, 20))])
    props = decode(engine.outbound("ip", PEER, res, 0)[0][1]).props
    assert struct.unpack(">i", props[0].edt)[0] == -500
    assert struct.unpack(">hh", props[1].edt) == (10, -20)                # one phase negative
    _, engine = _engine("values:reverse_flow=false,sentinel=no-data")
    assert decode(engine.outbound("ip", PEER, res, 0)[0][1]).props[0].edt == b"\x7f\xff\xff\xfe"
    _, engine = _engine("values:reverse_flow=false,glitch=backwards")
    cum = _res(5, [(0xE0, struct.pack(">I", 1234))])
    assert decode(engine.outbound("ip", PEER, cum, 0)[0][1]).props[0].edt == struct.pack(">I", 1233)


def test_announce_late_missing_and_no_d5():
    _, engine = _engine("announce:offset_s=240,d5=false")
    ea = encode(Frame(1, METER, Eoj(0x0E, 0xF0, 0x01), Esv.INF, (Property(0xEA, bytes(11)),)))
    assert engine.outbound("ip", None, ea, 0) == [(240.0, ea)]
    d5 = encode(Frame(2, Eoj(0x0E, 0xF0, 0x01), Eoj(0x0E, 0xF0, 0x01), Esv.INF,
                      (Property(0xD5, b"\x01\x02\x88\x01"),)))
    assert engine.outbound("ip", None, d5, 0) == []
    _, engine = _engine("announce:miss_prob=1")
    assert engine.outbound("ip", None, ea, 0) == []


def test_clock_offset_moves_the_time_stamps():
    from sumame.hal.jst import parse_jst

    now = parse_jst("2026-04-01T23:30")
    _, engine = _engine("clock:offset_s=3600", t=now)
    stamp = struct.pack(">HBBBBB", 2026, 4, 1, 23, 30, 0) + b"\0\0\0\1"
    res = _res(6, [(0xEA, stamp), (0x97, bytes((23, 30))), (0x98, struct.pack(">HBB", 2026, 4, 1))])
    props = decode(engine.outbound("ip", PEER, res, now)[0][1]).props
    assert props[0].edt[:7] == struct.pack(">HBBBBB", 2026, 4, 2, 0, 30, 0)
    assert props[1].edt == bytes((0, 30)) and props[2].edt == struct.pack(">HBB", 2026, 4, 2)


def test_bad_names_parameters_and_values_name_the_profile_and_what_is_allowed():
    with pytest.raises(QuirkError, match="unknown quirk 'nope'; known: silent-spell"):
        parse_spec("nope")
    with pytest.raises(QuirkError, match="opc-cap: unknown parameter"):
        _engine("opc-cap:cap=5")
    with pytest.raises(QuirkError, match="must be between 1 and 20"):
        _engine("opc-cap:max_opc=0")
    with pytest.raises(QuirkError, match="mode='drop' is not allowed; expected one of truncate-0x52, ignore"):
        _engine("opc-cap:mode=drop")
    with pytest.raises(QuirkError, match="unknown quirk preset"):
        preset("nowhere")


def test_every_profile_says_its_evidence_and_every_preset_parses():
    for cls in PROFILES.values():
        assert cls.__doc__ and (cls.evidence == "model" or "field-quirks" in cls.evidence)
    for name in PRESETS:
        assert preset(name)


def test_report_counts_retries_and_time_to_recover(tmp_path):
    clock, engine = _engine("silent-spell:duration_s=30,at=0")
    t0 = clock.t
    for i, dt in enumerate((0, 10, 20)):                      # three tries into the silence
        assert engine.inbound("ip", PEER, _get(i + 1, 0xE7), t0 + dt) is None
    assert engine.inbound("ip", PEER, _get(9, 0xE7), t0 + 40) is not None
    engine.outbound("ip", PEER, _res(9, [(0xE7, b"\0\0\0\1")]), t0 + 40)
    report = engine.report()
    assert report["traffic"]["retries"] == 3 and report["traffic"]["recover_s"] == [40.0]
    assert report["profiles"]["silent-spell"]["fired"] == 3
    path, png = engine.write_report(tmp_path / "quirks.json")
    assert path.exists() and png.exists() and png.stat().st_size > 1000


def test_board_quirks_section_and_preset_combine_with_explicit_specs():
    from sumame.boards import load_board
    from sumame.tools.quirks import from_board, specs_from

    board = load_board("emulated-lv", {"quirks": {"preset": "kansai-meter",
                                                  "profiles": ["opc-cap:max_opc=5", "announce"]}})
    assert dict(from_board(board)) == {"utility-profile": {"preset": "kansai"}, "opc-cap": {"max_opc": "5"},
                                       "announce": {}}
    assert specs_from(None, None) == []                    # every quirk off unless asked for


@pytest.mark.parametrize("spec", ["link-quality:rssi_dbm=nan", "silent-spell:prob=nan",
                                  "silent-spell:every_s=nan", "silent-spell:duration_s=inf",
                                  "silent-spell:at=inf"])
def test_non_finite_values_are_refused_naming_the_profile(spec):
    # NaN passes every `<`/`>` range check, inf passes an open upper bound: both must be refused
    with pytest.raises(QuirkError, match=f"quirk {spec.split(':')[0]}: .*not a finite number"):
        _engine(spec)


def test_the_same_profile_given_twice_with_different_values_is_refused():
    from sumame.tools.quirks import specs_from

    with pytest.raises(QuirkError, match="quirk opc-cap: given twice with max_opc=3 and max_opc=5"):
        specs_from(["opc-cap:max_opc=3", "opc-cap:max_opc=5"], None)
    # the same value twice, or an explicit spec over a preset, is not a contradiction
    assert specs_from(["opc-cap:max_opc=3", "opc-cap:max_opc=3"], None) == [("opc-cap", {"max_opc": "3"})]
    assert dict(specs_from(["utility-profile:preset=custom,epcs=E0"], "kansai-meter"))["utility-profile"][
        "preset"] == "custom"
