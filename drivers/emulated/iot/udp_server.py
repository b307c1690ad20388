"""An emulated device's ECHONET Lite node served on a UDP socket in a thread (loopback tests).

Subclasses give ``answers(datagram) -> [reply datagrams]`` and may move ``reply_to(peer)``
(default: back to the sender's address and port). ``start()`` binds ``address``:``port``;
``stop()`` closes the socket and joins the thread (≤ 1 s).
"""
from __future__ import annotations

import socket
import threading


class UdpNodeServer:
    thread_prefix = "echonet"

    def __init__(self, address: str, port: int = 3610):
        self.address, self.port = address, port
        self.sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.served = 0

    def answers(self, data: bytes) -> list[bytes]:
        raise NotImplementedError

    def reply_to(self, peer: tuple) -> tuple:
        return peer

    def start(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.address, self.port))
        self.sock.settimeout(0.1)
        self._thread = threading.Thread(target=self._serve, name=f"{self.thread_prefix}-{self.address}",
                                        daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        while self.sock is not None:
            try:
                data, peer = self.sock.recvfrom(1500)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            for reply in self.answers(data):
                try:
                    self.sock.sendto(reply, self.reply_to(peer))
                    self.served += 1
                except OSError:
                    pass

    def stop(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()
        if self._thread is not None:
            self._thread.join(timeout=1)
