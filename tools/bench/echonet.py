"""B-route benchmarks: ECHONET Lite codec vs pychonet, Get round trips over loopback UDP, and
reference-client latency while one device floods (virtual time, CPU cost model)."""
from __future__ import annotations

import random
import socket
import time

from sumame.firmware.net import echonet as el
from sumame.firmware.net.echonet import CONTROLLER, Eoj, Esv, Frame, Property

from .cli import Bench, Figure
from .timing import best_rates

METER = Eoj.of(0x028801)


def _sample_frames() -> list[bytes]:
    """Typical B-route traffic: 6-EPC Get, its Get_Res, a history E2 answer, a Set, an INF."""
    get = Frame(1, CONTROLLER, METER, Esv.GET, tuple(Property(e) for e in (0xE7, 0xE8, 0xE0, 0xE1, 0xD3, 0xEA)))
    res = Frame(1, METER, CONTROLLER, Esv.GET_RES, (
        Property(0xE7, (1234).to_bytes(4, "big")), Property(0xE8, bytes.fromhex("007b0064")),
        Property(0xE0, (123456).to_bytes(4, "big")), Property(0xE1, b"\x01"),
        Property(0xD3, (1).to_bytes(4, "big")), Property(0xEA, bytes.fromhex("07e9060f0c00000001e240"))))
    hist = Frame(2, METER, CONTROLLER, Esv.GET_RES, (Property(0xE2, b"\x00\x01" + bytes(range(192))),))
    setc = Frame(3, CONTROLLER, METER, Esv.SETC, (Property(0xE5, b"\x01"),))
    inf = Frame(4, METER, CONTROLLER, Esv.INF, (Property(0xEA, bytes.fromhex("07e9060f0c00000001e240")),))
    return [el.encode(f) for f in (get, res, hist, setc, inf)]


def bench_codec(quick: bool) -> list[Figure]:
    """Both codecs turn the same datagrams into their own typed/decoded form and back to bytes.
    pychonet's builder wants integer EDTs (its decoder gives bytes): only that conversion is
    added on its side, done in place on its decoder's dict (the cheapest use of its API)."""
    frames = _sample_frames()
    rounds = 400 if quick else 4000

    def ours():
        for raw in frames:
            el.encode(el.decode(raw))
    try:
        from pychonet.lib.functions import buildEchonetMsg, decodeEchonetMsg
    except ImportError:
        rate = best_rates({"ours": ours}, rounds)["ours"] * len(frames)
        return [Figure("ECHONET decode+encode (sumame)", rate, "frames/s", f"{len(frames)} typical frames"),
                Figure("pychonet comparison", 0, "-", "skipped: pychonet not installed")]
    for raw in frames:   # same frames give the same bytes back through pychonet (its SEOJ is fixed)
        assert el.encode(el.decode(raw)) == raw
        assert bytes(_pychonet_round_trip(buildEchonetMsg, decodeEchonetMsg, raw)) \
            == raw[:4] + b"\x05\xff\x01" + raw[7:]

    def theirs():
        for raw in frames:
            _pychonet_round_trip(buildEchonetMsg, decodeEchonetMsg, raw)
    rates = best_rates({"ours": ours, "theirs": theirs}, rounds)
    ours_rate, theirs_rate = rates["ours"] * len(frames), rates["theirs"] * len(frames)
    note = f"{len(frames)} typical frames, best of alternating rounds"
    return [Figure("ECHONET decode+encode (sumame)", ours_rate, "frames/s", note),
            Figure("ECHONET decode+encode (pychonet 2.8)", theirs_rate, "frames/s", "same frames, same run"),
            Figure("sumame / pychonet", ours_rate / theirs_rate, "ratio", ">1 = sumame faster")]


def _pychonet_round_trip(build, decode, raw: bytes):
    """pychonet's builder takes its decoder's dict with integer EDTs (its own convention)."""
    d = decode(raw)
    for o in d["OPC"]:
        o["EDT"] = int.from_bytes(o["EDT"], "big")
    return build(d)


def bench_udp(quick: bool) -> list[Figure]:
    from sumame.firmware.routes.broute.guard import GuardOptions

    from ..hems.sample_node import SampleNode

    address = f"127.0.0.{random.randint(20, 250)}"
    port = random.randint(20000, 60000)
    n = 300 if quick else 3000
    wide_open = GuardOptions(rate_per_s=1e6, burst=1e6)
    with SampleNode(address, port=port, guard=wide_open) as node, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))       # the node answers to the requester's ECHONET Lite port
        s.settimeout(2)
        latencies = []
        t0 = time.perf_counter()
        for tid in range(1, n + 1):
            req = el.encode(Frame(tid, CONTROLLER, METER, Esv.GET,
                                  (Property(0xE7), Property(0xE8), Property(0xE0))))
            t1 = time.perf_counter()
            s.sendto(req, (address, port))
            while el.decode(s.recvfrom(2048)[0]).tid != tid:
                pass
            latencies.append(time.perf_counter() - t1)
        rate = n / (time.perf_counter() - t0)
        answered = node.service.counters["answered"]
    latencies.sort()
    return [Figure("Get round trips over loopback UDP", rate, "round trips/s",
                   f"{n} sequential Gets of E7 E8 E0, {answered} answered, real clock"),
            Figure("  round trip p50", latencies[len(latencies) // 2] * 1e3, "ms"),
            Figure("  round trip p99", latencies[int(0.99 * (len(latencies) - 1))] * 1e3, "ms")]


def bench_flood(quick: bool) -> list[Figure]:
    from sumame.firmware.routes.broute.guard import GuardOptions

    from ..hems.broute_load import REFERENCE, percentile, run_scenario

    figures = []
    t0 = time.perf_counter()
    results, lateness, svc, medium = run_scenario(GuardOptions(max_clients=4), flood_s=30 if quick else 120,
                                                  duration=600 if quick else 1900)
    wall = time.perf_counter() - t0
    for name, period in REFERENCE:
        answers = results[name]
        ok = [a for a in answers if a is not None]
        note = f"every {period:g} s, {len(ok)}/{len(answers)} answered"
        figures.append(Figure(f"{name} latency p50 (flood 1000/s)", percentile(ok, 0.5) * 1e3, "ms virtual", note))
        figures.append(Figure(f"{name} latency p99 (flood 1000/s)", percentile(ok, 0.99) * 1e3, "ms virtual", note))
    figures.append(Figure("metering tick lateness max", max(lateness) * 1e3, "ms virtual",
                          "1-s METERING task during the flood"))
    dropped = svc.counters["blocked"] + svc.counters["rate-limited"]
    figures.append(Figure("flood frames dropped by the guard", dropped, "frames",
                          f"DoS detections {svc.guard.counters['dos-detected']}; simulated in {wall:.1f} s wall"))
    return figures


BENCHES = [
    Bench("echonet-codec", bench_codec, "ECHONET Lite decode+encode, sumame vs pychonet (same frames, same run)"),
    Bench("echonet-udp", bench_udp, "Get round trips per second over loopback UDP (real clock)"),
    Bench("echonet-flood", bench_flood, "reference B-route clients' latency while one client floods (virtual time)"),
]
