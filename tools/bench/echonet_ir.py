"""Instructions per frame of the ``echonet-codec`` bench loop, counted by valgrind (cachegrind).

Wall-clock ratios on a shared machine swing by a third between runs; an instruction count does
not. ``python -m sumame.tools.bench.echonet_ir`` runs the bench's frames (the same
``_sample_frames`` and pychonet round trip ``sumame bench echonet-codec`` times) in a fixed loop
under ``valgrind --tool=cachegrind --cache-sim=no``, once with 0 rounds and once with N, and
prints (count(N) - count(0)) / (N * frames): what one frame costs, start-up cancelled out.
``PYTHONHASHSEED=0`` makes both runs execute the same start-up. Sides: ``ours`` (decode then
encode), ``decode``, ``encode`` (of frames decoded once before the loop), ``theirs`` (pychonet).
A tool for a developer comparing two versions of the codec; not part of ``make bench`` (it needs
valgrind and takes about a minute).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys

SIDES = ("ours", "decode", "encode", "theirs")


def loop(side: str, rounds: int) -> int:
    """Run ``rounds`` rounds of ``side`` over the bench frames; returns the frames per round."""
    from sumame.firmware.net import echonet as el

    from .echonet import _pychonet_round_trip, _sample_frames

    frames = _sample_frames()
    decoded = [el.decode(raw) for raw in frames]
    for raw in frames:                        # the warm state the bench's timed rounds see
        el.encode(el.decode(raw))
        el.decode(raw)
    if side == "ours":
        def one():
            for raw in frames:
                el.encode(el.decode(raw))
    elif side == "decode":
        def one():
            for raw in frames:
                el.decode(raw)
    elif side == "encode":
        def one():
            for frame in decoded:
                el.encode(frame)
    elif side == "theirs":
        from pychonet.lib.functions import buildEchonetMsg, decodeEchonetMsg

        def one():
            for raw in frames:
                _pychonet_round_trip(buildEchonetMsg, decodeEchonetMsg, raw)
    else:
        raise ValueError(f"side {side!r} is not one of {', '.join(SIDES)}")
    for _ in range(rounds):
        one()
    return len(frames)


def _count(side: str, rounds: int, valgrind: str) -> int:
    out = subprocess.run(
        [valgrind, "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, "-m", "sumame.tools.bench.echonet_ir", "--loop", side, str(rounds)],
        capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
    if out.returncode:
        raise RuntimeError(f"the {side} loop failed under valgrind: {out.stderr.strip().splitlines()[-1:]}")
    found = re.search(r"I\s+refs:\s+([\d,]+)", out.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output: {out.stderr[-300:]}")
    return int(found.group(1).replace(",", ""))


def per_frame(side: str, rounds: int, valgrind: str) -> float:
    """Instructions one frame of ``side`` costs (the loop's rounds minus start-up)."""
    from .echonet import _sample_frames

    frames = len(_sample_frames())
    return (_count(side, rounds, valgrind) - _count(side, 0, valgrind)) / (rounds * frames)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sumame.tools.bench.echonet_ir", description=__doc__.split("\n")[0])
    p.add_argument("sides", nargs="*", metavar="SIDE",
                   help=f"what to count ({', '.join(SIDES)}; default: ours theirs)")
    p.add_argument("--rounds", type=int, default=2000, help="rounds of the bench frames (default 2000)")
    p.add_argument("--loop", nargs=2, metavar=("SIDE", "ROUNDS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    for side in args.sides:
        if side not in SIDES:
            p.error(f"side {side!r} is not one of {', '.join(SIDES)}")
    if args.loop:
        loop(args.loop[0], int(args.loop[1]))
        return 0
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("error: valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    counts = {}
    for side in args.sides or ["ours", "theirs"]:
        try:
            counts[side] = per_frame(side, args.rounds, valgrind)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"{side:>7}: {counts[side]:10,.0f} instructions/frame", flush=True)
    if "ours" in counts and "theirs" in counts:
        print(f"  ratio: {counts['theirs'] / counts['ours']:10.2f} pychonet / sumame (>1 = sumame cheaper)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
