"""The lab's network on this machine: a bridge, one network namespace per host joined to it by a
veth pair, and one firewall rule letting the bridge forward (Docker sets FORWARD to DROP and
makes bridged traffic pass through it). `remove` takes all of it away again, with the pod
namespaces the hosts' node agents left behind."""

from __future__ import annotations

import os
import shutil
import subprocess

from kubelite_cli.errors import CLIError
from kubelite_cli.lab.topology import LabSpec, bridge, gateway, hosts, prefix_len, workers


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise CLIError(f"`{' '.join(argv)}` failed: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def preflight() -> None:
    """One clear line when this machine cannot hold a lab."""
    if os.geteuid() != 0:
        raise CLIError("kubelite lab needs root: it creates network namespaces, a bridge and veth pairs")
    if shutil.which("ip") is None:
        raise CLIError("kubelite lab needs `ip` (iproute2) for network namespaces")
    probe = _run("ip", "netns", "list", check=False)
    if probe.returncode != 0:
        raise CLIError(f"`ip netns` does not work here: {probe.stderr.strip()}")


def netns_list() -> set[str]:
    out = _run("ip", "netns", "list", check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def link_exists(name: str) -> bool:
    return _run("ip", "link", "show", name, check=False).returncode == 0


def present(spec: LabSpec) -> list[str]:
    """What of this lab's network exists on the machine."""
    found = [f"bridge {bridge(spec)}"] if link_exists(bridge(spec)) else []
    names = netns_list()
    return found + [f"netns {h.netns}" for h in hosts(spec) if h.netns in names]


def _forward_rule(spec: LabSpec) -> list[str]:
    br = bridge(spec)
    return ["FORWARD", "-i", br, "-o", br, "-j", "ACCEPT", "-m", "comment", "--comment", f"kubelite lab {spec.name}"]


def create(spec: LabSpec) -> None:
    """The bridge with the gateway address, then every host: netns, veth pair, address, routes."""
    br, plen = bridge(spec), prefix_len(spec)
    _run("ip", "link", "add", br, "type", "bridge")
    _run("ip", "addr", "add", f"{gateway(spec)}/{plen}", "dev", br)
    _run("ip", "link", "set", br, "up")
    if shutil.which("iptables"):
        _run("iptables", "-I", *_forward_rule(spec))
    for host in hosts(spec):
        _run("ip", "netns", "add", host.netns)
        _run("ip", "link", "add", host.link, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
        _run("ip", "link", "set", host.link, "master", br, "up")
        _run("ip", "-n", host.netns, "addr", "add", f"{host.ip}/{plen}", "dev", "eth0")
        _run("ip", "-n", host.netns, "link", "set", "lo", "up")
        _run("ip", "-n", host.netns, "link", "set", "eth0", "up")
        _run("ip", "-n", host.netns, "route", "add", "default", "via", gateway(spec))


def remove(spec: LabSpec) -> list[str]:
    """Everything `create` made, and pod namespaces of the lab's nodes; what was removed."""
    from kubelite_nodeagent.runtime.netns import netns_name

    removed = []
    names = netns_list()
    pod_prefixes = tuple(netns_name(w.name, "") for w in workers(spec))
    for ns in sorted(names):
        if ns.startswith(pod_prefixes) and _run("ip", "netns", "del", ns, check=False).returncode == 0:
            removed.append(f"netns {ns}")
    for host in hosts(spec):
        if host.netns in names and _run("ip", "netns", "del", host.netns, check=False).returncode == 0:
            removed.append(f"netns {host.netns}")
        if link_exists(host.link):  # deleting the namespace deleted its end; this one goes with it
            _run("ip", "link", "del", host.link, check=False)
    if link_exists(bridge(spec)):
        _run("ip", "link", "del", bridge(spec), check=False)
        removed.append(f"bridge {bridge(spec)}")
    if shutil.which("iptables"):
        while _run("iptables", "-D", *_forward_rule(spec), check=False).returncode == 0:
            removed.append("iptables FORWARD rule")
    return removed


def in_host(netns: str, argv: list[str], hostname: str = "") -> list[str]:
    """argv run inside a host's network namespace and, with `hostname`, a UTS namespace of its own
    named so (as on a VM: leader election identities and Events say which host). `ip netns exec`,
    `unshare` and `sh` each exec the next: the PID is argv's."""
    if not hostname:
        return ["ip", "netns", "exec", netns, *argv]
    return ["ip", "netns", "exec", netns, "unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', hostname,
            *argv]
