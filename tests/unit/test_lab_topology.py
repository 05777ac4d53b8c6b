"""The lab's plan (pure): hosts and addresses, names that fit the kernel's limits, and command
lines that name every member of the etcd and NATS clusters."""

from __future__ import annotations

from pathlib import Path

from kubelite_cli.lab import topology
from kubelite_cli.lab.topology import Binaries, LabSpec

BINS = Binaries(etcd="etcd", nats="nats-server", haproxy="haproxy",
                kubelite={n: [f"kubelite-{n}"] for n in ("apiserver", "scheduler", "controller-manager",
                                                         "nodeagent", "proxy")})


def test_hosts_addresses_and_names() -> None:
    spec = LabSpec(control_planes=3, workers=2)
    assert [(h.name, h.ip, h.netns) for h in topology.hosts(spec)] == [
        ("cp-1", "10.77.0.11", "klab-cp-1"), ("cp-2", "10.77.0.12", "klab-cp-2"), ("cp-3", "10.77.0.13", "klab-cp-3"),
        ("w-1", "10.77.0.21", "klab-w-1"), ("w-2", "10.77.0.22", "klab-w-2")]
    assert (topology.bridge(spec), topology.gateway(spec)) == ("klab0", "10.77.0.1")
    big = LabSpec(control_planes=7, workers=50, name="abcdef")
    assert all(len(h.link) <= 15 for h in topology.hosts(big))  # IFNAMSIZ
    assert len({h.ip for h in topology.hosts(big)}) == 57


def test_bad_specs_say_why() -> None:
    assert LabSpec().problems() == []
    assert LabSpec(control_planes=0).problems() == ["--control-planes must be 1 to 7 (Raft wants an odd number), not 0"]
    assert LabSpec(name="Lab_1").problems() == ["--name must be 1 to 6 lower-case letters or digits, not 'Lab_1'"]
    assert LabSpec(subnet="10.1.2.0/28").problems() == ["--subnet must be an IPv4 /24 or larger, not 10.1.2.0/28"]


def test_command_lines_name_every_member() -> None:
    spec = LabSpec(control_planes=3, workers=1)
    cp2 = topology.control_planes(spec)[1]
    etcd = topology.etcd_launch(spec, cp2, topology.lab_layout(Path("/d")), BINS).argv
    assert etcd[etcd.index("--initial-cluster") + 1] == (
        "cp-1=https://10.77.0.11:2380,cp-2=https://10.77.0.12:2380,cp-3=https://10.77.0.13:2380")
    assert "--peer-client-cert-auth" in etcd and "--client-cert-auth" in etcd
    nats = topology.nats_config(spec, cp2, Path("/d/pki"), Path("/d/hosts/cp-2"))
    assert 'include "../../pki/nats.conf"' in nats
    assert 'routes: ["nats-route://10.77.0.11:6222", "nats-route://10.77.0.13:6222"]' in nats
    assert "server_name: cp-2" in nats and "verify: true" in nats
    apiserver, scheduler, cm = topology.control_plane_launches(spec, cp2, topology.lab_layout(Path("/d")), BINS)
    assert apiserver.argv[apiserver.argv.index("--etcd") + 1] == (
        "https://10.77.0.11:2379,https://10.77.0.12:2379,https://10.77.0.13:2379")
    assert scheduler.argv[scheduler.argv.index("--nats") + 1] == (
        "nats://10.77.0.11:4222,nats://10.77.0.12:4222,nats://10.77.0.13:4222")
    assert "--allocate-node-cidrs" in cm.argv
    agent, _proxy = topology.worker_launches(spec, topology.workers(spec)[0], topology.lab_layout(Path("/d")), BINS)
    assert "--pod-cidr" not in agent.argv  # node IPAM gives it
    assert agent.argv[agent.argv.index("--node-name") + 1] == "w-1"
    haproxy = topology.haproxy_config(spec)
    assert "bind 10.77.0.1:6443" in haproxy and haproxy.count("server cp-") == 3
