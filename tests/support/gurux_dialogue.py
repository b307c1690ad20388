"""gurux-dlms (GPL, test-only) as an independent DLMS client: gurux builds and parses every
frame; a subclass only carries the bytes (in process to a port, or over a TCP socket)."""
from gurux_dlms import GXByteBuffer, GXReplyData
from gurux_dlms.enums import Authentication


class GuruxDialogue:
    cl = None      # the GXDLMSClient / GXDLMSSecureClient
    hdlc = False

    def exchange(self, data: bytes) -> bytes:
        """Send one frame, return the answer bytes."""
        raise NotImplementedError

    def xfer(self, frames):
        reply = GXReplyData()
        for frame in frames if isinstance(frames, list) else [frames]:
            self.cl.getData(GXByteBuffer(self.exchange(bytes(frame))), reply)
            while reply.isMoreData():
                self.cl.getData(GXByteBuffer(self.exchange(bytes(self.cl.receiverReady(reply)))), reply)
        return reply

    def open(self):
        if self.hdlc:
            self.cl.parseUAResponse(self.xfer(self.cl.snrmRequest()).data)
        self.cl.parseAareResponse(self.xfer(self.cl.aarqRequest()).data)
        if self.cl.authentication == Authentication.HIGH_GMAC:
            self.cl.parseApplicationAssociationResponse(self.xfer(self.cl.getApplicationAssociationRequest()).data)
        return self

    def read(self, obj, attr):
        value = self.xfer(self.cl.read(obj, attr)).value
        self.cl.updateValue(obj, attr, value)
        return value

    def close(self):
        release = self.cl.releaseRequest()
        if release:
            self.xfer(release)
        if self.hdlc:
            self.xfer(self.cl.disconnectRequest())
