"""``sumame hems`` against a node on loopback UDP (IPv4 and IPv6), and its argument errors."""
import random
import socket

import pytest

from sumame.firmware.net import echonet as el
from sumame.firmware.metrology.readings import Quantity
from sumame.tools.cli import main
from sumame.tools.hems.sample_node import SampleNode


@pytest.fixture(scope="module")
def node():
    address = f"127.0.0.{random.randint(20, 250)}"
    extra = ()
    if socket.has_ipv6:
        extra = ("::1",)
    try:
        n = SampleNode(address, port=random.randint(20000, 60000), extra_addresses=extra).start()
    except OSError as exc:
        pytest.skip(f"cannot open the loopback node: {exc}")
    yield n
    n.stop()


def test_get_prints_decoded_values_with_units(node, capsys):
    host, port = node.endpoints[0]
    assert main(["hems", "--ip", host, "--port", str(port), "get", "E7", "E0", "E1", "EA", "E8"]) == 0
    out = capsys.readouterr().out
    r = node.readings
    assert f"{r.present().power_w} W" in out
    kwh = r.cumulative_now(Quantity.FORWARD) * 0.1
    assert f"{kwh:.1f} kWh (raw {r.cumulative_now(Quantity.FORWARD)})" in out
    assert "JST" in out and "R " in out and " A" in out


def test_history_prints_48_half_hours(node, capsys):
    host, port = node.endpoints[0]
    assert main(["hems", "--ip", host, "--port", str(port), "history", "--day", "1"]) == 0
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("  ")]
    assert len(lines) == 48 and lines[0].startswith("  00:00") and lines[-1].startswith("  23:30")
    assert all(l.endswith("kWh") or l.endswith("no data") for l in lines)


def test_ipv6_in_a_network_namespace():
    """The meter on ::1, sumame hems listening on its own address at 3610 (answers go to the
    requester's 3610, Part 2 §1.2), in a namespace the test creates."""
    from netns import last_json, run_in_netns, unshare_argv

    if unshare_argv() is None:
        pytest.skip("cannot create a network namespace (unshare -n) on this host")
    code = """
import contextlib, io, json
from sumame.tools.cli import main
from sumame.tools.hems.sample_node import SampleNode
with SampleNode("::1", port=3610) as node:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(["hems", "--ip", "::1", "--bind", "fd00:3610::2", "get", "E7"])
    print(json.dumps({"rc": rc, "out": out.getvalue(), "w": node.readings.present().power_w,
                      "odd": node.service.counters["odd-source-port"]}))
"""
    data = last_json(run_in_netns(code, addrs=("fd00:3610::2/128",), timeout=60))
    assert data["rc"] == 0, data["out"]
    assert " W" in data["out"] and data["odd"] == 0


def test_bind_on_the_meters_own_address_is_refused(capsys):
    assert main(["hems", "--ip", "127.0.0.1", "--bind", "127.0.0.1", "get", "E7"]) == 1
    assert "meter's own address" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["hems", "--ip", "1.2.3", "get", "E7"], "not an IPv4 or IPv6 address"),
    (["hems", "--ip", "127.0.0.1", "get", "ZZ"], "not hexadecimal"),
    (["hems", "--ip", "127.0.0.1", "get", "10"], "outside 80..FF"),
    (["hems", "--ip", "127.0.0.1", "history", "--day", "100"], "outside 0..99"),
])
def test_bad_arguments_exit_2_with_one_clear_line(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1]


def test_missing_ip_and_subcommand(capsys):
    assert main(["hems", "get", "E7"]) == 2
    assert "--ip ADDR is required" in capsys.readouterr().err
    assert main(["hems", "--ip", "127.0.0.1"]) == 2


def test_no_answer_is_reported(capsys):
    port = random.randint(20000, 60000)
    assert main(["hems", "--ip", "127.0.0.1", "--port", str(port), "--timeout", "0.3", "get", "E7"]) == 1
    assert "no answer" in capsys.readouterr().out


def test_hv_meter_properties_are_decoded_not_raw_hex(capsys):
    """0x028A: demand in kW (x C5 x D3 x D4), energy in kWh (x E6 x D3 x D4), reactive in kvarh,
    histories summarised, selectors and codes in words."""
    host = f"127.0.0.{random.randint(20, 250)}"
    port = random.randint(20000, 60000)
    with SampleNode(host, port=port, kind="hv") as node:
        epcs = ["C1", "C3", "C4", "C5", "CA", "D3", "D4", "E0", "E1", "E2", "E6", "8C", "E7"]
        assert main(["hems", "--ip", host, "--port", str(port), "get", *epcs]) == 0
        out = capsys.readouterr().out
        meter = node.service.node.objects[1]
        e2 = int.from_bytes(meter.get(0xE2)[7:], "big")
        c3 = int.from_bytes(meter.get(0xC3)[7:], "big")
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    kwh = 0.001 * 240
    assert f"{e2 * kwh:.2f} kWh" in lines["E2"] and "cumulative active energy" in lines["E2"]
    assert (f"{c3 * kwh:.2f} kW" in lines["C3"]) if c3 != 0xFFFFFFFE else "no data" in lines["C3"]
    assert "8 digits" in lines["C4"] and "0.001 kW per count" in lines["C5"]
    assert "kvarh" in lines["CA"] and lines["D3"].rstrip().endswith("240") and "x1" in lines["D4"]
    assert "day 1 of each month" in lines["E0"] and "(not set)" in lines["E1"]
    assert "(day not selected" in lines["E7"] and "SUMAME-HV" in lines["8C"]
    assert not any(line.rstrip().split()[-1] == meter.get(int(k, 16)).hex() for k, line in lines.items())


def test_default_bind_is_one_fixed_loopback_address_per_meter():
    """Repeated calls must be one controller to the meter (its 3-device limit counts addresses)."""
    from sumame.tools.hems.cli import default_bind

    first = default_bind("127.0.0.9")
    assert first.startswith("127.") and first != "127.0.0.9"
    assert {default_bind("127.0.0.9") for _ in range(20)} == {first}
    assert default_bind("::1") == "::" and default_bind("192.0.2.1") == "0.0.0.0"
