"""The rtnetlink messages runtime/netlink.py builds, taken apart again (pure; the real kernel's
answer is tested in tests/integration/test_pod_network_netlink.py)."""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct

from kubelite_nodeagent.runtime import netlink


def _attrs(data: bytes) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    offset = 0
    while offset + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, offset)
        found[kind] = data[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return found


def test_attributes_are_padded_to_four_bytes() -> None:
    assert netlink.attr(3, b"eth0\0") == struct.pack("=HH", 9, 3) + b"eth0\0" + b"\0\0\0"
    assert netlink.attr(10, b"\1\0\0\0") == struct.pack("=HH", 8, 10) + b"\1\0\0\0"


def test_link_delete_request_names_the_link() -> None:
    kind, flags, body = netlink.link_delete_request("kvabc")
    assert (kind, flags) == (netlink.RTM_DELLINK, 0)
    assert struct.unpack_from("=BxHiII", body) == (socket.AF_UNSPEC, 0, 0, 0, 0)  # by name, not index
    assert _attrs(body[16:]) == {netlink.IFLA_IFNAME: b"kvabc\0"}


def test_veth_request_nests_the_peer_in_its_namespace() -> None:
    kind, flags, body = netlink.veth_request("kvabc", 7, "eth0", 42)
    assert (kind, flags) == (netlink.RTM_NEWLINK, netlink.NLM_F_CREATE | netlink.NLM_F_EXCL)
    _, _, index, up, change = struct.unpack_from("=BxHiII", body)
    assert (index, up, change) == (0, netlink.IFF_UP, netlink.IFF_UP)  # created up
    top = _attrs(body[16:])
    assert top[netlink.IFLA_IFNAME] == b"kvabc\0"
    assert top[netlink.IFLA_MASTER] == struct.pack("=I", 7)
    info = _attrs(top[netlink.IFLA_LINKINFO])
    assert info[netlink.IFLA_INFO_KIND] == b"veth"
    peer = _attrs(info[netlink.IFLA_INFO_DATA])[netlink.VETH_INFO_PEER]
    peer_attrs = _attrs(peer[16:])
    assert peer_attrs == {netlink.IFLA_IFNAME: b"eth0\0", netlink.IFLA_NET_NS_FD: struct.pack("=I", 42)}


def test_address_and_route_requests() -> None:
    _, _, body = netlink.address_request(3, ipaddress.IPv4Interface("10.244.1.5/24"))
    family, prefix, _, scope, index = struct.unpack_from("=BBBBI", body)
    assert (family, prefix, scope, index) == (socket.AF_INET, 24, 0, 3)
    assert _attrs(body[8:]) == {netlink.IFA_LOCAL: bytes([10, 244, 1, 5]), netlink.IFA_ADDRESS: bytes([10, 244, 1, 5])}
    _, _, body = netlink.default_route_request(ipaddress.IPv4Address("10.244.1.1"))
    assert struct.unpack_from("=BBBBBBBBI", body)[1] == 0  # dst_len 0: the default route
    assert _attrs(body[12:]) == {netlink.RTA_GATEWAY: bytes([10, 244, 1, 1])}


def _error_reply(seq: int, code: int) -> bytes:
    payload = struct.pack("=i", -code) + struct.pack("=IHHII", 16, netlink.RTM_NEWLINK, 0, seq, 0)
    return struct.pack("=IHHII", 16 + len(payload), netlink.NLMSG_ERROR, 0, seq, 0) + payload


def test_the_kernels_answer_is_read_by_sequence_number() -> None:
    assert netlink.ack_error(_error_reply(5, 0), 5) == 0
    assert netlink.ack_error(_error_reply(5, errno.EEXIST), 5) == errno.EEXIST
    assert netlink.ack_error(_error_reply(4, errno.EEXIST), 5) is None  # an older request's answer
    assert netlink.ack_error(_error_reply(4, 0) + _error_reply(5, errno.ENODEV), 5) == errno.ENODEV
    assert netlink.ack_error(b"", 5) is None
