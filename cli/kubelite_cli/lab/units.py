"""systemd units for a lab of VMs, made from the command lines `kubelite lab up` runs (pure).

The lab and the VMs share one source of truth for flags: `topology.etcd_launch`,
`control_plane_launches`, `worker_launches`, `nats_config` and `haproxy_config`. Here they get a
VM's paths (`topology.VM_LAYOUT`, /opt/kubelite for programs) and the VMs' own addresses, and each
command line becomes the ExecStart of a unit. `render(spec)` maps a file's path under the output
directory to its text:

    cp-1/kubelite-etcd.service  cp-1/kubelite-nats.service  cp-1/nats.conf
    cp-1/kubelite-apiserver.service  cp-1/kubelite-scheduler.service  cp-1/kubelite-controller-manager.service
    w-1/kubelite-nodeagent.service  w-1/kubelite-proxy.service
    lb/kubelite-haproxy.service  lb/haproxy.cfg

deploy/example/ is `render()` of a 3+3 lab checked in, and a test renders it again and compares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kubelite_cli.lab import topology
from kubelite_cli.lab.topology import Host, LabSpec, Launch

PREFIX = Path("/opt/kubelite")
CONF_DIR = Path("/etc/kubelite")
LOAD_BALANCER = "lb"  # the output directory of the load balancer's machine
COMPONENTS = ("apiserver", "scheduler", "controller-manager", "nodeagent", "proxy")
VM_BINARIES = topology.Binaries(
    etcd=str(PREFIX / "bin" / "etcd"), nats=str(PREFIX / "bin" / "nats-server"), haproxy="/usr/sbin/haproxy",
    kubelite={name: [str(PREFIX / "venv" / "bin" / f"kubelite-{name}")] for name in COMPONENTS},
)
_LINE = 100  # wrap ExecStart= at about this width, between a flag and the next


@dataclass(frozen=True)
class UnitKind:
    description: str
    after: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()  # more [Service] lines


KINDS = {
    "etcd": UnitKind("kubelite etcd member (one Raft cluster over the control planes; TLS to clients and peers)"),
    "nats": UnitKind("kubelite NATS server (one cluster over the control planes; TLS routes)",
                     extra=("ExecReload=/bin/kill -HUP $MAINPID",)),
    "apiserver": UnitKind("kubelite apiserver (one per control plane; HAProxy balances over them)",
                          after=("kubelite-etcd.service", "kubelite-nats.service")),
    "scheduler": UnitKind("kubelite scheduler (one per control plane; leader-elected)",
                          after=("kubelite-apiserver.service",)),
    "controller-manager": UnitKind("kubelite controller-manager (one per control plane; leader-elected)",
                                   after=("kubelite-apiserver.service",)),
    # the agent puts its pods' cgroups below its own unit's
    "nodeagent": UnitKind("kubelite node agent (runs this node's pods)", after=("docker.service",),
                          extra=("Delegate=yes",)),
    "proxy": UnitKind("kubelite proxy (Services, NodePorts and cluster DNS on this node)"),
    "haproxy": UnitKind("HAProxy in front of every kubelite apiserver (checks each /readyz)"),
}


def _quote(arg: str) -> str:
    """One ExecStart= word: systemd expands % and $ (doubled to stay literal) and splits on spaces."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    return f'"{arg}"' if re.search(r"[\s\"'\\;]", arg) else arg


def exec_line(argv: list[str]) -> str:
    """`ExecStart=` with the command line wrapped between flags, each flag beside its value."""
    words: list[str] = []
    for arg in map(_quote, argv):
        if words and words[-1].startswith("--") and " " not in words[-1] and not arg.startswith("--"):
            words[-1] += f" {arg}"
        else:
            words.append(arg)
    lines, line = [], "ExecStart=" + words[0]
    for word in words[1:]:
        if len(line) + 1 + len(word) > _LINE:
            lines.append(line + " \\")
            line = "    " + word
        else:
            line += " " + word
    return "\n".join([*lines, line])


def unit(kind: str, launch: Launch) -> str:
    k = KINDS[kind]
    after = " ".join(("network-online.target", *k.after))
    # ordered after its peers' units where they run on this VM, but pulling in only the network
    return (
        "# Made by `kubelite deploy render` from the command line `kubelite lab up` runs (kubelite_cli.lab.units).\n"
        "[Unit]\n"
        f"Description={k.description}\n"
        f"Documentation=file://{PREFIX}/deploy/README.md\n"
        f"After={after}\n"
        "Wants=network-online.target\n"
        "\n[Service]\n"
        "Type=simple\n"
        f"{exec_line(launch.argv)}\n"
        + "".join(f"{line}\n" for line in k.extra)
        + "Restart=always\nRestartSec=2\nLimitNOFILE=65536\n"
        "\n[Install]\nWantedBy=multi-user.target\n"
    )


def _kind(launch: Launch) -> str:
    """"apiserver-cp-1" on cp-1 -> "apiserver"."""
    return launch.name.removesuffix(f"-{launch.host}")


def _control_plane(spec: LabSpec, host: Host) -> dict[str, str]:
    layout, bins = topology.VM_LAYOUT, VM_BINARIES
    config = layout.host_dir(host) / "nats.conf"
    launches = [topology.etcd_launch(spec, host, layout, bins), topology.nats_launch(host, config, bins),
                *topology.control_plane_launches(spec, host, layout, bins)]
    out = {f"{host.name}/kubelite-{_kind(x)}.service": unit(_kind(x), x) for x in launches}
    out[f"{host.name}/nats.conf"] = topology.nats_config(spec, host, layout.pki, config.parent)
    return out


def render(spec: LabSpec) -> dict[str, str]:
    """Every file of every host of `spec` (with `addresses` and `load_balancer` set), by path."""
    out: dict[str, str] = {}
    for host in topology.control_planes(spec):
        out |= _control_plane(spec, host)
    for host in topology.workers(spec):
        for launch in topology.worker_launches(spec, host, topology.VM_LAYOUT, VM_BINARIES):
            out[f"{host.name}/kubelite-{_kind(launch)}.service"] = unit(_kind(launch), launch)
    balancer = topology.haproxy_launch(CONF_DIR / "haproxy.cfg", VM_BINARIES)
    out[f"{LOAD_BALANCER}/kubelite-haproxy.service"] = unit("haproxy", balancer)
    out[f"{LOAD_BALANCER}/haproxy.cfg"] = topology.haproxy_config(spec)
    return dict(sorted(out.items()))


def credential_files(spec: LabSpec, host: str, available: list[str]) -> list[str]:
    """The files of the cluster's pki/ directory that `host` needs: a control plane all of them
    (it runs the apiserver, which signs with the CAs, and etcd and NATS); a worker its node
    agent's and proxy's certificates, the cluster CA to check servers and the client CA to check
    who scrapes its metrics; the load balancer none (HAProxy passes TLS through)."""
    if host in {h.name for h in topology.control_planes(spec)}:
        return sorted(available)
    if host not in {h.name for h in topology.workers(spec)}:
        return []
    mine = re.compile(rf"^(node|proxy)-{re.escape(host)}(-serving)?\.(crt|key)$")
    return sorted(f for f in available if f in ("cluster-ca.crt", "client-ca.crt") or mine.match(f))
