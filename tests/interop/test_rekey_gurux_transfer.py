"""The key transfer itself made by an unmodified gurux-dlms client (GPL, test-only): gurux's own
GXDLMSSecuritySetup.globalKeyTransfer (RFC 3394 wrap by gurux) to security setup 0.0.43.0.0.255
in an HLS-GMAC association under the old keys; the meter switches: gurux with the new keys
reads it, gurux with the old keys is refused at the association. Proves the class 64 method 2
encoding against an implementation that is not ours (our head-end and meter could agree on a
wrong one)."""
import os

import pytest

try:
    import gurux_dlms  # noqa: F401
except ImportError:           # under CI the peer must be there: fail, never skip
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("gurux-dlms (test extra) not installed", allow_module_level=True)
from gurux_dlms.GXDLMSException import GXDLMSException  # noqa: E402
from gurux_dlms.objects import GXDLMSRegister, GXDLMSSecuritySetup  # noqa: E402
from gurux_dlms.objects.enums.GlobalKeyType import GlobalKeyType  # noqa: E402
from gurux_dialogue import gurux_head_end  # noqa: E402
from realtime_meter import recorded_meter  # noqa: E402

from sumame.firmware.routes.aroute.key_renewal import kek_of, stored_keys  # noqa: E402
from sumame.firmware.routes.aroute.keys import derived_secrets  # noqa: E402

pytestmark = [pytest.mark.interop, pytest.mark.lifecycle]


def test_gurux_global_key_transfer_switches_the_meter(tmp_path):
    with recorded_meter(tmp_path / "m", hours=0) as m:
        serial = m.meter.config.identity.serial
        old = derived_secrets(serial)
        new_ek, new_ak = os.urandom(16), os.urandom(16)
        g = gurux_head_end(m.tcp, old.ek, old.ak, 1000).open()
        setup = GXDLMSSecuritySetup("0.0.43.0.0.255")
        g.xfer(setup.globalKeyTransfer(g.cl, bytearray(kek_of(serial, {})),
                                       [(GlobalKeyType.UNICAST_ENCRYPTION, bytearray(new_ek)),
                                        (GlobalKeyType.AUTHENTICATION, bytearray(new_ak))]))
        g.sock.close()
        assert stored_keys(m.meter.storage)[1:] == (new_ek, new_ak)
        fresh = gurux_head_end(m.tcp, new_ek, new_ak, 2000).open()
        reg = GXDLMSRegister("1.0.1.8.0.255")
        fresh.read(reg, 3)
        fresh.read(reg, 2)
        fresh.close()
        fresh.sock.close()
        stale = gurux_head_end(m.tcp, old.ek, old.ak, 3000)
        with pytest.raises(GXDLMSException, match="rejected"):
            stale.open()
        stale.sock.close()
