"""Supply point and receiving point numbers over the A-route: a reader association gets both
(COSEM class 1, 0.0.96.1.1.255 / 0.0.96.1.2.255, visible-string of 22 digits; empty when no
generation is sold), a public client gets neither; a board's number that is not 22 digits is
refused with the key named."""
import pytest
from aroute_helpers import meter, open_session, run, settings

from sumame.tools.cli import CliError
from sumame.firmware.net.dlms.descriptors import DataAccessResult as DAR
from sumame.firmware.routes.aroute import obis_codes as oc
from sumame.firmware.routes.aroute.server import PUBLIC_SAP, READER_SAP

RP = "0350000000000000000006"


def read(rt, sap):
    async def go():
        s = await open_session(rt, settings(rt, sap))
        out = await s.get_list([(1, oc.SUPPLY_POINT_NUMBER, 2), (1, oc.RECEIVING_POINT_NUMBER, 2)])
        await s.release()
        return out
    return run(rt, go())


def test_reader_gets_both_numbers_public_gets_none():
    rt = meter(overrides={"identity": {"receiving_point": RP}}, settle_s=60)
    sp, rp = read(rt, READER_SAP)
    assert sp.value == rt.config.identity.supply_point and rp.value == RP
    assert read(rt, PUBLIC_SAP) == [DAR.READ_WRITE_DENIED, DAR.READ_WRITE_DENIED]


def test_no_sold_generation_reads_as_empty():
    rt = meter(settle_s=60)
    assert read(rt, READER_SAP)[1].value == ""


def test_board_refuses_a_bad_receiving_point():
    with pytest.raises(CliError, match=r"receiving_point: .12345. must be 22 digits"):
        meter(overrides={"identity": {"receiving_point": "12345"}})
