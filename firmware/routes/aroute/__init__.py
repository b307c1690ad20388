"""A-route: the meter's DLMS/COSEM server towards the utility head-end (HES / MDMS).

wiring.py (the service) -> model.py (COSEM objects bound to the meter) -> server.py (associations,
bad input to the event log) -> push.py (interval and alarm pushes) -> transports (tcp.py, udp.py,
inprocess.py) applying link.py's conditions. Security material in keys.py; invocation counters
persisted by counters.py. The codec itself is ``sumame.firmware.net.dlms`` (pure).
"""
