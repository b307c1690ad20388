"""Answers go to the requester's ECHONET Lite port (3610; Part 2 §1.2), never to the source
port of the request: unicast IPv4 and IPv6, multicast IPv4 and IPv6, and the INF that answers
an INF_REQ. A request from an odd port is logged (counter) and the meter keeps serving."""
from __future__ import annotations

import random
import socket

import pytest

from netns import last_json, run_in_netns, unshare_argv
from sumame.firmware.net import echonet as el
from sumame.tools.hems.sample_node import SampleNode

GET_E7 = el.Frame(7, el.CONTROLLER, el.Eoj.of(0x028801), el.Esv.GET, (el.Property(0xE7),))


def test_ipv4_unicast_answer_goes_to_the_echonet_port_not_the_source_port():
    host = f"127.0.{random.randint(1, 250)}.{random.randint(2, 250)}"
    me = f"127.0.{random.randint(1, 250)}.1"
    port = random.randint(20000, 60000)    # the node's ECHONET Lite port in this test
    with SampleNode(host, port=port) as node, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        sender.bind((me, 0))
        sender.settimeout(0.5)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((me, port))
        listener.settimeout(3)
        for tid in (1, 2, 3):                   # keeps serving, every answer on the port
            sender.sendto(el.encode(GET_E7._replace(tid=tid)), (host, port))
            reply = el.decode(listener.recv(2048))
            assert reply.tid == tid and reply.esv is el.Esv.GET_RES
        with pytest.raises(socket.timeout):
            sender.recv(2048)
        assert node.service.counters["odd-source-port"] == 3
        assert node.service.counters["answered"] == 3


MULTICAST = r'''
import json, socket, struct
from sumame.firmware.net import echonet as el
from sumame.tools.hems.sample_node import SampleNode

def listener(family, addr):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 3610))
    s.settimeout(3)
    return s

out = {}
with SampleNode("127.0.0.2", port=3610, multicast=True, extra_addresses=("fd00:3610::1",)) as node:
    l4, l6 = listener(socket.AF_INET, "127.0.0.1"), listener(socket.AF_INET6, "fd00:3610::2")
    s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s4.bind(("127.0.0.1", 0))
    s4.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s6.bind(("fd00:3610::2", 0))
    v1 = socket.if_nametoindex("v1")
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, v1)
    infreq = el.Frame(9, el.CONTROLLER, el.NODE_PROFILE, el.Esv.INF_REQ, (el.Property(0xD5),))
    get = el.Frame(10, el.CONTROLLER, el.NODE_PROFILE, el.Esv.GET, (el.Property(0xD6),))
    s4.sendto(el.encode(infreq), ("224.0.23.0", 3610))
    s6.sendto(el.encode(get), ("ff02::1", 3610, 0, v1))
    s6.sendto(el.encode(get._replace(tid=11)), ("fd00:3610::1", 3610))
    for name, sock, want in (("v4", l4, {9}), ("v6", l6, {10, 11})):
        got = []
        while len(got) < len(want):
            try:
                data, peer = sock.recvfrom(2048)
            except socket.timeout:
                break
            f = el.decode(data)
            if f.tid in want:
                got.append([f.tid, int(f.esv), peer[0], f.props[0].edt.hex()])
        out[name] = sorted(got)
    out["counters"] = dict(node.service.counters)
print(json.dumps(out))
'''


def test_multicast_and_ipv6_answers_and_the_inf_for_inf_req_go_to_3610():
    if unshare_argv() is None:
        pytest.skip("cannot create a network namespace (unshare -n) on this host")
    data = last_json(run_in_netns(MULTICAST, veth=("fd00:3610::1/64", "fd00:3610::2/64"), timeout=60))
    assert data["v4"] == [[9, 0x73, "127.0.0.2", "01028801"]], data        # INF answering INF_REQ
    assert data["v6"] == [[10, 0x72, "fd00:3610::1", "01028801"],          # multicast Get
                          [11, 0x72, "fd00:3610::1", "01028801"]], data    # unicast Get
    assert data["counters"]["odd-source-port"] >= 2
