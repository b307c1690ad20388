"""AirHub: joins the virtual air of several processes over loopback UDP.

Each process's ``Air(..., hub=(host, port))`` sends ``HELLO`` once, then every frame it
transmits as ``channel(1) || PSDU``; the hub forwards each datagram to every other registered
air. Loopback only (127.0.0.1). Run it in a thread (``start()``) or as ``python -m
sumame.drivers.emulated.air_hub PORT``.
"""
from __future__ import annotations

import selectors
import socket
import sys
import threading


class AirHub:
    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        if not host.startswith("127.") and host not in ("localhost", "::1"):
            raise ValueError("the air hub listens on loopback only")
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.address = self.sock.getsockname()
        self.peers: set[tuple[str, int]] = set()
        self.forwarded = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def serve_once(self, timeout: float = 0.1) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        try:
            if not sel.select(timeout):
                return
        finally:
            sel.close()
        data, addr = self.sock.recvfrom(4096)
        self.peers.add(addr)
        if data == b"HELLO":
            return
        for peer in list(self.peers):
            if peer != addr:
                try:
                    self.sock.sendto(data, peer)
                    self.forwarded += 1
                except OSError:
                    self.peers.discard(peer)

    def start(self) -> "AirHub":
        self._thread = threading.Thread(target=self._run, name="sumame-air-hub", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.serve_once()
            except OSError:
                if self._stop.is_set():
                    return

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.sock.close()


if __name__ == "__main__":  # pragma: no cover - manual use
    hub = AirHub(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(f"air hub on {hub.address[0]}:{hub.address[1]}", flush=True)
    try:
        while True:
            hub.serve_once(1.0)
    except KeyboardInterrupt:
        hub.close()
