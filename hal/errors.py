"""The one HAL error hierarchy.

Drivers raise these (never bare OSError / SerialException / ValueError) so the firmware can
react to a hardware fault without knowing which driver produced it.
"""


class HalError(Exception):
    """Base of every error a driver reports to the firmware."""


class DeviceNotFound(HalError):
    """The device named by the board is absent (no USB device, no SPI node, no tty)."""


class BusError(HalError):
    """A transfer on the bus (SPI, I2C, UART, USB) failed or returned garbage."""


class ChipReset(BusError):
    """The device answers but lost the configuration it was given (it reset): start it again."""


class DeviceTimeout(HalError):
    """The device did not answer within its documented time."""


class ConfigurationError(HalError):
    """A device was configured with a value it does not accept."""


class CounterFault(HalError):
    """A monotonic counter's stored value fails its own check (bit rot in the register)."""


class NvmError(HalError):
    """Non-volatile memory failure."""


class NvmAddressError(NvmError):
    """Access outside the device, or a program that crosses a page boundary."""


class NvmProgramError(NvmError):
    """A program tried to turn a 0 bit back into 1 without an erase (NOR semantics)."""


class NvmWornOut(NvmError):
    """A page passed its rated erase cycles and no longer erases reliably."""


class RelayError(HalError):
    """The relay could not be actuated."""


class StuckContact(RelayError):
    """The contact read back differs from the commanded position after actuation."""


class PowerBudgetExceeded(HalError):
    """Powering a load would exceed what the supply can give (VA)."""


class CommsError(HalError):
    """A comms unit, modem or port failed."""


class PowerCut(BaseException):
    """The supply vanished in the middle of an operation (emulation / fault injection).

    Derives from BaseException on purpose: firmware code must not be able to swallow it with
    ``except Exception``. Nothing after the cut runs; only what already reached the NVM survives.
    """
