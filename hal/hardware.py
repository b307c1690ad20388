"""Hardware: the set of devices a board hands to the firmware at boot."""
from dataclasses import dataclass, field
from typing import Any

from .comms import CommsUnit
from .metering_asic import MeteringAsic
from .nvm import Nvm
from .power import PowerSupply
from .relay import Relay
from .rtc import Rtc


@dataclass
class Hardware:
    """Devices of one meter. ``relay`` is None on boards without a switch (HV)."""

    asic: MeteringAsic
    nvm: Nvm
    rtc: Rtc
    power: PowerSupply
    relay: Relay | None = None
    comms: list[CommsUnit] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    """Further devices later layers add by name (radio modems, USB ports)."""
