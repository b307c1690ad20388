"""A pychonet client for interop tests, on its own loopback address at port 3610 (as Home
Assistant runs it on 0.0.0.0:3610): nodes answer to the requester's port 3610 (ECHONET Lite
Part 2 §1.2). A random 127.x.y.z keeps parallel tests from sharing an address:port."""
import asyncio
import random

from pychonet.echonetapiclient import ECHONETAPIClient
from pychonet.lib.udpserver import UDPServer


async def pychonet_client(port: int = 3610):
    """(udp, api, found): ``found`` collects hosts that answered the multicast discovery.
    ``port``: the ECHONET Lite port of the node under test (3610 unless the test moved it)."""
    local = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
    udp = UDPServer(local_ip=local)
    udp.run(local, port, loop=asyncio.get_running_loop())
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
