"""Audit of issue 10 point 4 (the connection server's CSV/Parquet delivery, "like sumame hes"):
the exported hour carries a readable JST time as ``sumame hes export`` does, not only epoch s."""
import csv
from types import SimpleNamespace

from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.net.dlms import axdr
from sumame.firmware.routes.iot import codec as c
from sumame.firmware.routes.iot.gateway import IOT_PUSH_LN
from sumame.tools.hes.jointread_server import Company, ConnectionServer

START = 1775055600.0          # 2026-04-02 00:00 JST
TID = b"WTR00001"


def test_export_csv_has_the_hour_in_jst(tmp_path):
    clock = VirtualClock(START + 86400)
    hes = SimpleNamespace(on_other_push=None, store=SimpleNamespace(add_command=lambda *a: None))
    srv = ConnectionServer(SimpleNamespace(clock=clock), hes, [Company("water", c.KIND_WATER, keys={TID: b"k" * 16})],
                           meter_of={TID: "m"}, since=START)
    body = c.Values(c.KIND_WATER, int(START + 3600), ((1234, 0), (1240, c.FLAG_ABNORMAL))).encode()
    rec = axdr.structure(axdr.octet_string(TID), axdr.unsigned(c.KIND_WATER), axdr.unsigned(c.VALUES),
                         axdr.double_long_unsigned(int(START)), axdr.octet_string(body))
    hes.on_other_push(SimpleNamespace(id="m"), axdr.structure(axdr.octet_string(IOT_PUSH_LN), axdr.visible_string("M"),
                                                              axdr.array([rec])).value)
    assert srv.export(tmp_path / "v.csv") == 2
    rows = list(csv.DictReader((tmp_path / "v.csv").open()))
    assert [r["hour_end_jst"] for r in rows] == ["2026-04-02 01:00 JST", "2026-04-02 02:00 JST"]
    assert rows[0]["hour_end"] == str(int(START + 3600)) and rows[1]["abnormal"] == "True"
