"""The emulated HV board comes up with the HV comms unit (seed 002): A-route, B-route Ethernet
(primary, shared by several home devices) and B-route Wi-SUN (secondary), not the LV unit."""
from __future__ import annotations

import random
import socket

from sumame.boards import load_board
from sumame.boards.schema import validate
from sumame.firmware.net import echonet as el
from sumame.hal.comms import Medium
from sumame.tools.emulate.meter_thread import MeterThread


def test_hv_board_and_hv_boards_without_comms_take_the_hv_unit():
    assert load_board("emulated-hv")["comms"]["units"] == ["hv-next-gen"]
    assert load_board("emulated-lv")["comms"]["units"] == ["lv-next-gen"]
    minimal = {"board": {"name": "x", "kind": "hv"}, "meter": {"wiring": "3p3w"},
               "identity": {"route_b_id": "0" * 32, "route_b_password": "A" * 12, "supply_point": "0" * 22}}
    assert validate("x.toml", minimal)["comms"]["units"] == ["hv-next-gen"]
    assert validate("x.toml", {**minimal, "comms": {"units": ["ethernet-wisun"]}})["comms"]["units"] == \
        ["ethernet-wisun"]


def test_emulated_hv_serves_several_home_devices_over_ethernet(tmp_path):
    host = f"127.0.{random.randint(1, 250)}.{random.randint(2, 250)}"
    m = MeterThread("emulated-hv", overrides={"broute": {"ip": [host]}, "wisun": {"enabled": False}},
                    profile="constant", state_dir=tmp_path).start()
    sockets = []
    try:
        unit = m.call(lambda rt: rt.meter.switchgear.comms.unit("comms").descriptor)
        assert unit.model == "hv next-gen unit"
        assert set(unit.media) == {Medium.AROUTE, Medium.ETHERNET, Medium.WISUN}
        assert Medium.WIFI not in unit.media
        assert ("echonet-udp", f"{host}:3610") in m.endpoints
        for k in range(3):                       # three home devices share the Ethernet B-route
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((f"127.{random.randint(1, 250)}.{random.randint(1, 250)}.{k + 1}", 3610))
            s.settimeout(5)
            sockets.append(s)
            s.sendto(el.encode(el.Frame(k + 1, el.CONTROLLER, el.Eoj.of(0x028A01), el.Esv.GET,
                                        (el.Property(0xE2),))), (host, 3610))
            reply = el.decode(s.recv(1500))
            assert reply.esv is el.Esv.GET_RES and str(reply.seoj) == "0x028A01"
    finally:
        for s in sockets:
            s.close()
        m.stop()
