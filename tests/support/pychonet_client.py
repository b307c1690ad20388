"""A pychonet client on 127.0.0.1 (ephemeral port) for interop tests; never binds 3610."""
import asyncio

from pychonet.echonetapiclient import ECHONETAPIClient
from pychonet.lib.udpserver import UDPServer


async def pychonet_client():
    """(udp, api, found): ``found`` collects hosts that answered the multicast discovery."""
    udp = UDPServer(local_ip="127.0.0.1")
    udp.run("127.0.0.1", 0, loop=asyncio.get_running_loop())
    api = ECHONETAPIClient(udp)
    found = []

    async def on_discover(host):
        found.append(host)
    api.configure(message_timeout=30, logger=lambda *a, **k: None, discover_callback=on_discover)
    return udp, api, found


async def discover_by_multicast(api, found, host, tries: int = 30) -> bool:
    await api.discover()
    for _ in range(tries):
        if host in found:
            return True
        await asyncio.sleep(0.1)
    return False
