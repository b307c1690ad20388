"""The instruction-count harness of the echonet-codec bench runs the bench's frames, as many
rounds as asked, on the side asked (the valgrind part itself is a developer tool, not run here)."""
import pytest

from sumame.firmware.net import echonet as el
from sumame.tools.bench import echonet_ir
from sumame.tools.bench.echonet import _sample_frames


@pytest.mark.parametrize("side, decodes, encodes", [("ours", 3, 3), ("decode", 3, 0), ("encode", 0, 3)])
def test_loop_runs_the_bench_frames_the_rounds_asked(monkeypatch, side, decodes, encodes):
    frames = _sample_frames()
    seen = {"decode": [], "encode": []}
    real_decode, real_encode = el.decode, el.encode
    monkeypatch.setattr(el, "decode", lambda raw: seen["decode"].append(raw) or real_decode(raw))
    monkeypatch.setattr(el, "encode", lambda f: seen["encode"].append(f) or real_encode(f))
    assert echonet_ir.loop(side, 3) == len(frames)
    # the frames are built (5 encodes), decoded once, then warmed (decode, encode, decode)
    warm_decodes, warm_encodes = 3 * len(frames), 2 * len(frames)
    assert seen["decode"][warm_decodes:] == frames * decodes
    assert len(seen["encode"]) - warm_encodes == len(frames) * encodes


def test_theirs_runs_pychonet_on_the_same_frames():
    pytest.importorskip("pychonet", reason="pychonet (test extra) not installed")
    assert echonet_ir.loop("theirs", 1) == len(_sample_frames())


def test_unknown_side_is_a_one_line_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        echonet_ir.main(["nobody"])
    assert exit_.value.code == 2
    assert "'nobody' is not one of ours, decode, encode, theirs" in capsys.readouterr().err
