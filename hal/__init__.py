"""Hardware abstraction layer: the contracts between the firmware and the drivers.

Only typing.Protocol contracts, plain data types and the HAL error hierarchy live here; no I/O
and no imports from drivers/ or firmware/. Units are in every docstring.
"""
from .clock import TimeSource
from .comms import CommsUnit, CommsUnitDescriptor, Medium
from .errors import (
    BusError,
    ChipReset,
    CommsError,
    ConfigurationError,
    DeviceNotFound,
    DeviceTimeout,
    HalError,
    NvmAddressError,
    NvmError,
    NvmProgramError,
    NvmWornOut,
    PowerBudgetExceeded,
    PowerCut,
    RelayError,
    StuckContact,
)
from .hardware import Hardware
from .metering_asic import AsicStatus, EnergyDelta, Instantaneous, MeteringAsic
from .nvm import ERASED, Nvm
from .power import PowerMonitor, PowerSource, PowerSupply
from .radio import RadioEvent, RadioIdentity, RadioModem
from .relay import ContactState, Relay
from .rtc import Rtc
from .counter import MonotonicCounter
from .usb import HotplugKind, UsbDeviceInfo, UsbHotplug, UsbPort, UsbSpeed

__all__ = [
    "AsicStatus", "BusError", "ChipReset", "CommsError", "CommsUnit", "CommsUnitDescriptor",
    "ConfigurationError", "ContactState", "DeviceNotFound", "DeviceTimeout", "ERASED",
    "EnergyDelta", "HalError", "Hardware", "Instantaneous", "Medium", "MeteringAsic", "Nvm",
    "NvmAddressError", "NvmError", "NvmProgramError", "NvmWornOut", "PowerBudgetExceeded",
    "PowerCut", "PowerSource", "PowerSupply", "Relay", "RelayError", "Rtc", "StuckContact",
    "TimeSource", "PowerMonitor", "HotplugKind", "UsbDeviceInfo", "UsbHotplug", "UsbPort",
    "UsbSpeed", "RadioEvent", "RadioIdentity", "RadioModem", "MonotonicCounter",
]
