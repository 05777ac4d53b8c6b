"""Pod networking for the process runtime: a network namespace per pod on a node bridge.

As root, each node gets a Linux bridge `kl-<hash(node)>` holding the first
address of the node's pod CIDR; each pod gets a network namespace with one end
of a veth pair as `eth0` (next free address of the CIDR, default route via the
bridge) and the other end on the bridge.  Addresses are persisted in
`<state_dir>/ipam.json` so a restarted agent never hands one out twice.
Several agents on one machine do not collide: every name and the CIDR are
per node.  Without root there is no namespace: pods share the host network and
`PodNetwork.enabled` is False with `reason` saying why.

A pod's namespace and veth are made with system calls and rtnetlink (runtime/netlink.py: a
spawn of `ip` cost more than the kernel's work); the bridge, removal and checks go through
iproute2 (`ip`) and iptables as subprocesses.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import json
import logging
import os
import shutil
from pathlib import Path

import msgspec

from kubelite.command import run_command
from kubelite_nodeagent.runtime.netlink import NetlinkWorker

log = logging.getLogger(__name__)

NETNS_DIR = Path("/var/run/netns")


class NetworkError(Exception):
    """An `ip`/`iptables` step failed; the message carries the command and its stderr."""


class PodNet(msgspec.Struct, kw_only=True):
    """A pod's network: its address, and the namespace to join ("" on the host network)."""

    pod_uid: str
    ip: str
    netns: str = ""  # name under /var/run/netns
    host_veth: str = ""

    @property
    def netns_path(self) -> str:
        return str(NETNS_DIR / self.netns) if self.netns else ""


# ---- pure naming and address arithmetic -------------------------------------------------


def _short_hash(*parts: str, length: int) -> str:
    return hashlib.sha1("\0".join(parts).encode()).hexdigest()[:length]


def bridge_name(node_name: str) -> str:
    """`kl-` + 8 hex of the node name: unique per node, within the 15-byte interface limit."""
    return f"kl-{_short_hash(node_name, length=8)}"


def bridge_mac(node_name: str) -> str:
    """A fixed, locally administered MAC for the node's bridge. Without one the kernel gives a
    bridge the lowest MAC of its ports, so it changed whenever a pod's veth came or went, and
    every pod on the node kept sending to the gateway's old MAC until its ARP entry was renewed:
    seconds in which its replies to anything off the bridge were lost (found as connect
    timeouts through cluster IPs while pods were replaced, tests/e2e/test_zero_drop_rollout.py)."""
    digest = _short_hash("mac " + node_name, length=10)
    return "02:" + ":".join(digest[i : i + 2] for i in range(0, 10, 2))


def netns_name(node_name: str, pod_uid: str) -> str:
    return f"kl-{_short_hash(node_name, length=8)}-{pod_uid}"


def veth_names(node_name: str, pod_uid: str) -> tuple[str, str]:
    """(host side, pod side before it is renamed eth0), 13 bytes each."""
    h = _short_hash(node_name, pod_uid, length=11)
    return f"kv{h}", f"kp{h}"


@functools.lru_cache(maxsize=64)
def network_of(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """`cidr` parsed, once per CIDR (every pod setup needs its node's)."""
    return ipaddress.ip_network(cidr, strict=False)


def gateway_ip(cidr: str) -> str:
    """The bridge's address: the first host address of the CIDR."""
    return str(network_of(cidr).network_address + 1)


def next_free_ip(cidr: str, used: set[str]) -> str:
    """Lowest host address of `cidr` after the gateway that is not in `used`."""
    net = network_of(cidr)
    if net.version != 4 or net.prefixlen > 30:
        raise NetworkError(f"pod CIDR {cidr} must be an IPv4 network of /30 or larger")
    gateway = net.network_address + 1
    for addr in net.hosts():
        if addr != gateway and str(addr) not in used:
            return str(addr)
    raise NetworkError(f"pod CIDR {cidr} has no free address ({len(used)} in use)")


def host_network_reason() -> str:
    """Why pods cannot get their own network here, or "" when they can."""
    if os.geteuid() != 0:
        return "not running as root: pods use the host network"
    if shutil.which("ip") is None:
        return "iproute2 `ip` not found: pods use the host network"
    return ""


# ---- subprocess helpers ----------------------------------------------------------------


async def run(*argv: str, stdin: str | None = None, check: bool = True) -> tuple[int, str]:
    """Run a command; return (exit code, stderr).  Raise NetworkError on failure when check."""
    done = await run_command(*argv, stdin=stdin)
    text = done.stderr.strip()
    if check and done.code != 0:
        shown = " ".join(argv) + (f" <<< {stdin.strip()!r}" if stdin else "")
        raise NetworkError(f"`{shown}` failed ({done.code}): {text}")
    return done.code, text


async def _link_exists(name: str, netns: str = "") -> bool:
    if not netns:  # this namespace: sysfs answers without spawning a process
        return os.path.exists(f"/sys/class/net/{name}")  # noqa: ASYNC240 - sysfs is in memory
    argv = ["ip", "-n", netns, "link", "show", "dev", name]
    code, _ = await run(*argv, check=False)
    return code == 0


def _mac_assigned_by_kernel(link: str) -> bool:
    """Whether the link's MAC was not set explicitly (addr_assign_type 3 is NET_ADDR_SET)."""
    try:
        return Path(f"/sys/class/net/{link}/addr_assign_type").read_text().strip() != "3"
    except OSError:
        return False


async def _addresses(dev: str = "") -> list[tuple[str, str]]:
    """(device, address/prefix) of the IPv4 addresses on one device, or on all."""
    done = await run_command("ip", "-o", "-4", "addr", "show", *(["dev", dev] if dev else []))
    # lines look like: "7: kl-x    inet 10.244.1.1/24 scope global kl-x ..."
    rows = (line.split() for line in done.stdout.splitlines())
    return [(parts[1], parts[3]) for parts in rows if len(parts) > 3 and parts[2] == "inet"]


def overlapping(cidr: str, addresses: list[tuple[str, str]], own_dev: str) -> list[str]:
    """Devices other than `own_dev` whose network overlaps `cidr` (pure)."""
    net = network_of(cidr)
    return [
        f"{address} on {dev}"
        for dev, address in addresses
        if dev != own_dev and ipaddress.ip_interface(address).network.overlaps(net)
    ]


# ---- the node's pod network ------------------------------------------------------------


class PodNetwork:
    """Creates and removes pod network namespaces for one node (see module doc)."""

    def __init__(self, node_name: str, pod_cidr: str, state_dir: str | Path) -> None:
        self.node_name = node_name
        self.pod_cidr = pod_cidr
        self.state_dir = Path(state_dir)
        self.bridge = bridge_name(node_name)
        self.reason = host_network_reason() or (
            "" if pod_cidr else "node has no pod CIDR: pods use the host network"
        )
        self._lock = asyncio.Lock()  # IPAM file and bridge set-up are read-modify-write
        self._ipam: dict[str, str] | None = None  # ipam.json as last read or written
        self._netlink = NetlinkWorker(NETNS_DIR)  # a pod's namespace and veth, without `ip`

    @property
    def enabled(self) -> bool:
        return not self.reason

    @property
    def _ipam_path(self) -> Path:
        return self.state_dir / "ipam.json"

    def _load_ipam(self) -> dict[str, str]:
        """A copy of the table (pod uid -> IP), read from ipam.json once: this agent is its
        only writer, and every pod start and stop read and parsed it before."""
        if self._ipam is None:
            try:
                data = json.loads(self._ipam_path.read_text())
            except FileNotFoundError:
                data = {}
            self._ipam = {str(k): str(v) for k, v in data.items()}
        return dict(self._ipam)

    def _save_ipam(self, allocations: dict[str, str]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._ipam_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(allocations, indent=1, sort_keys=True))
        os.replace(tmp, self._ipam_path)  # atomic: a crash leaves the old or the new table
        self._ipam = allocations  # only once it is on disk

    def allocations(self) -> dict[str, str]:
        """pod uid -> IP as persisted."""
        return self._load_ipam()

    async def start(self) -> None:
        """Create the bridge (idempotent) and let traffic from and to it through the host."""
        if not self.enabled:
            log.warning("pod network disabled: %s", self.reason)
            return
        async with self._lock:
            await self._ensure_bridge()

    async def _ensure_bridge(self) -> None:
        prefix = network_of(self.pod_cidr).prefixlen
        address = f"{gateway_ip(self.pod_cidr)}/{prefix}"
        clashes = overlapping(self.pod_cidr, await _addresses(), self.bridge)
        if clashes:  # another node agent (or anything else) already routes this network here
            raise NetworkError(
                f"pod CIDR {self.pod_cidr} of node {self.node_name} overlaps {', '.join(clashes)}"
            )
        mac = bridge_mac(self.node_name)
        if not await _link_exists(self.bridge):
            await run("ip", "link", "add", self.bridge, "address", mac, "type", "bridge")
        elif _mac_assigned_by_kernel(self.bridge):  # made by an older agent: pin it now
            await run("ip", "link", "set", self.bridge, "address", mac)
        if address not in {a for _, a in await _addresses(self.bridge)}:
            await run("ip", "addr", "add", address, "dev", self.bridge)
        await run("ip", "link", "set", self.bridge, "up")
        await self._iptables(add=True)

    def _iptables_rules(self) -> list[list[str]]:
        comment = ["-m", "comment", "--comment", f"kubelite pod network {self.node_name}"]
        return [
            # Docker sets the FORWARD policy to DROP; pods must reach other pods and nodes.
            ["filter", "FORWARD", "-i", self.bridge, "-j", "ACCEPT", *comment],
            ["filter", "FORWARD", "-o", self.bridge, "-j", "ACCEPT", *comment],
            # Pods reaching anything but a pod bridge of this machine (the host's DNS server,
            # the outside world, other machines) appear as the node.
            ["nat", "POSTROUTING", "-s", self.pod_cidr, "!", "-o", "kl-+", "-j", "MASQUERADE",
             *comment],
        ]  # fmt: skip

    async def _iptables(self, *, add: bool) -> None:
        if shutil.which("iptables") is None:
            if add:
                log.warning("iptables not found: pod traffic may be dropped by the host firewall")
            return
        for table, chain, *rule in self._iptables_rules():
            present, _ = await run("iptables", "-w", "-t", table, "-C", chain, *rule, check=False)
            if add and present != 0:
                await run("iptables", "-w", "-t", table, "-I", chain, "1", *rule)
            elif not add and present == 0:
                await run("iptables", "-w", "-t", table, "-D", chain, *rule, check=False)

    async def setup(self, pod_uid: str) -> PodNet:
        """Give the pod its namespace, veth and IP; return what exists if it is already set up."""
        if not self.enabled:
            raise NetworkError(self.reason)
        ns = netns_name(self.node_name, pod_uid)
        host_veth, _ = veth_names(self.node_name, pod_uid)
        async with self._lock:
            allocations = self._load_ipam()
            ip = allocations.get(pod_uid)
            if ip is None:
                ip = next_free_ip(self.pod_cidr, set(allocations.values()))
                allocations[pod_uid] = ip
                self._save_ipam(allocations)
            if not await _link_exists(self.bridge):
                await self._ensure_bridge()  # removed behind our back (or a reboot)
        net = PodNet(pod_uid=pod_uid, ip=ip, netns=ns, host_veth=host_veth)
        if (NETNS_DIR / ns).exists() and await _link_exists("eth0", ns):
            return net
        try:
            await self._create(net)
        except BaseException:
            await self._remove_links(ns, host_veth)
            raise
        return net

    async def _create(self, net: PodNet) -> None:
        await self._remove_links(net.netns, net.host_veth)  # leftovers of a half-done attempt
        # The pod end is born in the pod's namespace as eth0: moving an interface between
        # namespaces is serialised in the kernel (~20 ms each), which made a burst of pod
        # starts queue for over a second (bench/pod_startup_bench.py --burst).
        prefix = network_of(self.pod_cidr).prefixlen
        try:
            await self._netlink.create_pod_network(
                netns=net.netns, host_veth=net.host_veth, bridge=self.bridge,
                interface=ipaddress.IPv4Interface(f"{net.ip}/{prefix}"),
                gateway=ipaddress.IPv4Address(gateway_ip(self.pod_cidr)),
            )  # fmt: skip
        except OSError as exc:
            raise NetworkError(f"pod network {net.netns}: {exc.strerror or exc}") from exc  # strerror names the step

    async def _remove_links(self, ns: str, host_veth: str, *, at_once: bool = True) -> None:
        """Through rtnetlink, as setup (runtime/netlink.py): `ip link del` and `ip netns del`
        were two process spawns per pod deleted. Best effort, as they were: a failure is logged.
        `at_once` (before a setup of the same names): the veth is gone on return."""
        if not (await _link_exists(host_veth) or (NETNS_DIR / ns).exists()):
            return  # the usual case before a setup: nothing left over
        try:
            await self._netlink.remove_pod_network(netns=ns, host_veth=host_veth, at_once=at_once)
        except OSError as exc:
            log.warning("pod network %s: removing it failed: %s", ns, exc)

    async def teardown(self, pod_uid: str) -> None:
        """Remove the pod's veth and namespace and release its IP; no-op if absent."""
        if self.enabled:
            host_veth, _ = veth_names(self.node_name, pod_uid)
            # the pod is gone: its veth may follow its namespace moments later
            await self._remove_links(netns_name(self.node_name, pod_uid), host_veth, at_once=False)
        async with self._lock:
            allocations = self._load_ipam()
            if allocations.pop(pod_uid, None) is not None:
                self._save_ipam(allocations)

    def pod_uids(self) -> list[str]:
        """Pods that hold an address on this node."""
        return sorted(self._load_ipam())

    async def teardown_node(self) -> None:
        """Remove every pod network, the bridge and its firewall rules (node decommission, tests)."""
        for uid in self.pod_uids():
            await self.teardown(uid)
        if not self.enabled:
            return
        prefix = f"kl-{_short_hash(self.node_name, length=8)}-"
        if NETNS_DIR.is_dir():  # noqa: ASYNC240 - a stat of a tmpfs dir
            for entry in NETNS_DIR.iterdir():  # noqa: ASYNC240
                if entry.name.startswith(prefix):  # a namespace without an address: half-made
                    host_veth, _ = veth_names(self.node_name, entry.name[len(prefix):])
                    await self._remove_links(entry.name, host_veth, at_once=False)
        await self._iptables(add=False)
        if await _link_exists(self.bridge):
            await run("ip", "link", "del", self.bridge, check=False)
