"""Who asked for an operation. Every switch / limit operation names its source explicitly."""
from enum import Enum


class CommandSource(Enum):
    A_ROUTE = "a-route"      # the utility head-end (the only source allowed to control the switch)
    B_ROUTE = "b-route"      # the home side (HEMS): never allowed to control the switch
    IOT_ROUTE = "iot-route"  # wireless terminals (gas/water, special meters): never allowed
    LOCAL = "local"          # optical port / local maintenance: not a control path here
    BREAKER = "breaker"      # the breaker's own protection logic (trip, auto-reclose)
    BOOT = "boot"            # boot-time reconciliation (never operates the relay)


CONTROL_SOURCES = frozenset({CommandSource.A_ROUTE})
"""Sources whose commands may operate the switch or change the ampere limit."""
