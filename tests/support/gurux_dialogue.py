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


class GuruxTcp(GuruxDialogue):
    """gurux over a TCP socket to the meter's DLMS wrapper port (``address`` = (host, port))."""

    def __init__(self, address, client):
        import socket

        self.sock = socket.create_connection(address, timeout=10)
        self.cl = client

    def _exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("the meter closed the connection")
            out += chunk
        return out

    def exchange(self, data):
        self.sock.sendall(data)
        head = self._exact(8)
        return head + self._exact(int.from_bytes(head[6:8], "big"))


def gurux_head_end(address, ek: bytes, ak: bytes, invocation: int) -> GuruxTcp:
    """gurux as the head-end client (SAP 0x30, HLS-GMAC, authenticated + encrypted) with the keys
    ``ek``/``ak`` and a first invocation counter above what the head-end already used."""
    from gurux_dlms.enums import InterfaceType, Security
    from gurux_dlms.secure import GXDLMSSecureClient

    from sumame.firmware.routes.aroute.keys import HES_SYSTEM_TITLE

    cl = GXDLMSSecureClient(True, 0x30, 1, Authentication.HIGH_GMAC, None, InterfaceType.WRAPPER)
    c = cl.ciphering
    c.security = Security.AUTHENTICATION_ENCRYPTION
    c.systemTitle = bytearray(HES_SYSTEM_TITLE)
    c.blockCipherKey, c.authenticationKey = bytearray(ek), bytearray(ak)
    c.invocationCounter = invocation
    return GuruxTcp(address, cl)
