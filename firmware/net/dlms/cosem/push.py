"""Push setup (class 40, version 0) and the DataNotification it builds.

Method 1 ``push`` (or the lead's periodic task calling :meth:`PushSetup.notification`) reads
each push_object_list entry through ``read(capture_object, ctx)`` (the server's attribute
reader, full access) and sends ``DataNotification(structure(values...))`` through
``send(push_setup, apdu_bytes)``. Transport (TCP/UDP/HDLC UI) and ciphering are the caller's.
"""
from __future__ import annotations

from typing import Callable, Sequence

from .. import axdr
from ..axdr import Data
from ..cosem_time import JST_DEVIATION, epoch_to_octets
from ..descriptors import DataAccessResult
from ..notify import DataNotification
from .base import CosemError, CosemObject, RequestContext
from .profile import CaptureObject

TRANSPORT_TCP, TRANSPORT_UDP, TRANSPORT_HDLC = 0, 1, 5
MESSAGE_AXDR = 0


class PushSetup(CosemObject):
    """Class 40 v0: 2 push_object_list, 3 send_destination_and_method, 4 communication_window,
    5 randomisation_start_interval (s), 6 number_of_retries, 7 repetition_delay (s)."""

    CLASS_ID, VERSION, ATTRIBUTES, METHODS = 40, 0, 7, 1

    def __init__(self, logical_name, push_objects: Sequence[CaptureObject], *, destination: bytes = b"",
                 transport: int = TRANSPORT_TCP, randomisation_start_interval: int = 0,
                 number_of_retries: int = 0, repetition_delay: int = 0,
                 read: Callable[[CaptureObject, RequestContext], Data] | None = None,
                 send: Callable[["PushSetup", bytes], None] | None = None,
                 deviation: int = JST_DEVIATION, **levels):
        super().__init__(logical_name, **levels)
        self.push_objects = tuple(push_objects)
        self.destination = destination
        self.transport = transport
        self.randomisation_start_interval = randomisation_start_interval
        self.number_of_retries = number_of_retries
        self.repetition_delay = repetition_delay
        self.read = read
        self.send = send
        self.deviation = deviation
        self.invoke_counter = 0

    def get_attribute(self, attr, ctx, access):
        if attr == 2:
            return axdr.array(c.to_data() for c in self.push_objects)
        if attr == 3:
            return axdr.structure(axdr.enum(self.transport), axdr.octet_string(self.destination),
                                  axdr.enum(MESSAGE_AXDR))
        if attr == 4:
            return axdr.array(())
        if attr == 5:
            return axdr.long_unsigned(self.randomisation_start_interval)
        if attr == 6:
            return axdr.unsigned(self.number_of_retries)
        return axdr.long_unsigned(self.repetition_delay)

    def notification(self, ctx: RequestContext) -> DataNotification:
        """The DataNotification this push setup sends now (body = structure of the values)."""
        if self.read is None:
            raise CosemError(DataAccessResult.OBJECT_UNAVAILABLE, f"{self!r} is not bound to a server")
        values = tuple(self.read(c, ctx) for c in self.push_objects)
        self.invoke_counter = (self.invoke_counter + 1) & 0xFFFFFF
        return DataNotification(axdr.Data(axdr.DataType.STRUCTURE, values), self.invoke_counter,
                                epoch_to_octets(ctx.now, self.deviation))

    def invoke_method(self, method, params, ctx):
        if self.send is None:
            raise CosemError(DataAccessResult.TEMPORARY_FAILURE, f"{self!r} has no transport bound")
        self.send(self, self.notification(ctx).encode())
        return None
