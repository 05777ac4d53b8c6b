"""Doing and undoing faults on a running lab: signals to its processes (and restarts with the
command line they were started with), a host's link down, netem on a host's link, a whole host
down. Leaders are found when the fault is injected: the scheduler's and controller-manager's
from their Leases (holderIdentity ends in the process id), etcd's from each member's status."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

from kubelite_cli.chaos.probes import Api
from kubelite_cli.chaos.scenarios import HOST_DOWN, KILL, LINK_DOWN, NETEM, PAUSE, Fault
from kubelite_cli.cluster.procs import is_running, spawn_detached
from kubelite_cli.cluster.state import ProcessRecord
from kubelite_cli.errors import CLIError
from kubelite_cli.lab import state, topology
from kubelite_cli.lab.state import LabState

LEASES = {"scheduler": "kube-scheduler", "controller-manager": "kube-controller-manager"}


class LabControl:
    def __init__(self, lab: LabState, api: Api) -> None:
        self.lab, self.api = lab, api
        self.data_dir = Path(lab.data_dir)
        self.hosts = {h.name: h for h in topology.hosts(lab.spec())}
        self._loss_rules: dict[str, list[str]] = {}  # host -> iptables rule standing in for netem

    # ---- finding what a fault hits ---------------------------------------------------------
    def record(self, name: str) -> ProcessRecord:
        found = next((r for r in self.lab.processes if r.name == name), None)
        if found is None:
            raise CLIError(f"the lab has no process {name!r}")
        return found

    def resolve(self, target: str) -> str:
        """A process name for a role: `leader:scheduler` -> `scheduler-cp-2`."""
        if not target.startswith("leader:"):
            return target
        role = target.split(":", 1)[1]
        if role == "etcd":
            return f"etcd-{self._etcd_leader()}"
        lease = self.api.get(f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{LEASES[role]}")
        holder = ((lease or {}).get("spec") or {}).get("holderIdentity", "")
        parts = holder.split("_")  # <hostname>_<pid>[_<random>]
        for r in self.lab.processes:
            if r.name.startswith(f"{role}-") and str(r.pid) in parts[1:]:
                return r.name
        raise CLIError(f"no {role} process holds the lease (holder {holder!r})")

    def _etcd_status(self, host: topology.Host) -> dict[str, bool] | None:
        """`has_leader` and `is_leader` from the member's /metrics, None when it does not answer.
        (Its /v3/maintenance/status goes through the gRPC gateway, which older labs' server
        certificates cannot use as clients.)"""
        pki = self.data_dir / "pki"
        tls = ssl.create_default_context(cafile=str(pki / "etcd-ca.crt"))
        tls.load_cert_chain(str(pki / "etcd-admin.crt"), str(pki / "etcd-admin.key"))
        try:
            with urllib.request.urlopen(f"https://{host.ip}:{topology.ETCD_CLIENT_PORT}/metrics", timeout=2,
                                        context=tls) as resp:
                text = resp.read().decode()
        except (OSError, ValueError):
            return None
        gauges = dict(line.split(" ", 1) for line in text.splitlines()
                      if line.startswith(("etcd_server_has_leader ", "etcd_server_is_leader ")))
        return {"has_leader": gauges.get("etcd_server_has_leader", "0").strip() == "1",
                "is_leader": gauges.get("etcd_server_is_leader", "0").strip() == "1"}

    def _etcd_leader(self, timeout: float = 15.0) -> str:
        """The member that leads (an election may be under way: asked again until `timeout`)."""
        deadline = time.monotonic() + timeout
        while True:
            for host in topology.control_planes(self.lab.spec()):
                if (self._etcd_status(host) or {}).get("is_leader"):
                    return host.name
            if time.monotonic() >= deadline:
                raise CLIError(f"no etcd member says it leads (asked for {timeout:.0f} s)")
            time.sleep(0.5)

    def settle(self, timeout: float = 60.0) -> list[str]:
        """Wait until every lab process runs and every etcd member answers with one leader, so a
        scenario starts from a whole cluster and not from the tail of the previous one. A process
        found dead is started again first; the names of those restarted."""
        dead = [r.name for r in self.lab.processes if not is_running(r)]
        for name in dead:
            self.restart(name)
        deadline = time.monotonic() + timeout
        missing: list[str] = []
        while time.monotonic() < deadline:
            missing = [r.name for r in self.lab.processes if not is_running(r)]
            statuses = [self._etcd_status(h) for h in topology.control_planes(self.lab.spec())]
            missing += [f"etcd member {i + 1} without a leader" for i, st in enumerate(statuses)
                        if not (st and st["has_leader"])]
            if not missing:
                return dead
            time.sleep(0.5)
        raise CLIError(f"the lab is not whole after {timeout:.0f} s: {', '.join(missing)}")

    # ---- doing and undoing -------------------------------------------------------------------
    def inject(self, fault: Fault) -> str:
        """Do `fault`; what was hit (for the log and the undo)."""
        if fault.action in (KILL, PAUSE):
            name = self.resolve(fault.target)
            sig = signal.SIGKILL if fault.action == KILL else signal.SIGSTOP
            self._signal(self.record(name), sig)
            return name
        host = self.hosts[fault.target]
        if fault.action == LINK_DOWN:
            self._ip("-n", host.netns, "link", "set", "eth0", "down")
        elif fault.action == NETEM:
            return self._netem(host, fault.args)
        elif fault.action == HOST_DOWN:
            self._kill_host(host.name, host.netns)
        return host.name

    def recover(self, fault: Fault, hit: str) -> None:
        if fault.action == KILL:
            self.restart(hit)
        elif fault.action == PAUSE:
            self._signal(self.record(hit), signal.SIGCONT)
        elif fault.action == LINK_DOWN:
            self._ip("-n", self.hosts[hit].netns, "link", "set", "eth0", "up")
            # the link took the host's default route down with it (the node agent restores its own
            # routes to other nodes' pods; this one is the "machine's" and the lab's to restore)
            self._ip("-n", self.hosts[hit].netns, "route", "replace", "default", "via", topology.gateway(self.lab.spec()))
        elif fault.action == NETEM:
            host = self.hosts[hit.split(" ", 1)[0]]
            if host.name in self._loss_rules:
                self._run("ip", "netns", "exec", host.netns, "iptables", "-w", "-D", *self._loss_rules.pop(host.name))
            else:
                self._run("ip", "netns", "exec", host.netns, "tc", "qdisc", "del", "dev", "eth0", "root")
        elif fault.action == HOST_DOWN:
            for r in [r for r in self.lab.processes if self.lab.hosts.get(r.name) == hit]:
                self.restart(r.name)

    def _netem(self, host: topology.Host, args: tuple[str, ...]) -> str:
        """tc netem on the host's link; where the kernel has no netem (sch_netem not built, as in
        some VM kernels), the loss alone, as an iptables rule dropping that share of packets."""
        tc = subprocess.run(["ip", "netns", "exec", host.netns, "tc", "qdisc", "add", "dev", "eth0", "root",
                             "netem", *args], capture_output=True, text=True, timeout=30)
        if tc.returncode == 0:
            return host.name
        if "unknown" not in tc.stderr.lower() or "loss" not in args:
            raise CLIError(f"tc netem on {host.name} failed: {tc.stderr.strip()}")
        share = float(args[args.index("loss") + 1].rstrip("%")) / 100
        rule = ["OUTPUT", "-o", "eth0", "-m", "statistic", "--mode", "random", "--probability", f"{share:.4f}",
                "-m", "comment", "--comment", "kubelite chaos loss", "-j", "DROP"]
        self._run("ip", "netns", "exec", host.netns, "iptables", "-w", "-A", *rule)
        self._loss_rules[host.name] = rule
        return f"{host.name} (loss {share:.0%} only: this kernel has no netem, so no delay)"

    def restart(self, name: str) -> None:
        """Start a dead process again with its own command line, its log appended to."""
        old = self.record(name)
        if is_running(old):
            return
        new = spawn_detached(name, old.argv, Path(old.log))
        new.url, new.metrics_url = old.url, old.metrics_url
        self.lab.processes[self.lab.processes.index(old)] = new
        state.save(self.data_dir, self.lab)

    def _kill_host(self, host: str, netns: str) -> None:
        """Every process of the host's namespace and of its pods' namespaces, as a power cut."""
        from kubelite_nodeagent.runtime.netns import netns_name

        namespaces = [netns] + [ns for ns in _netns_list() if ns.startswith(netns_name(host, ""))]
        for ns in namespaces:
            pids = self._run("ip", "netns", "pids", ns).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(
                is_running(r) for r in self.lab.processes if self.lab.hosts.get(r.name) == host):
            time.sleep(0.1)

    @staticmethod
    def _signal(record: ProcessRecord, sig: signal.Signals) -> None:
        if not is_running(record):
            raise CLIError(f"{record.name} is not running (pid {record.pid})")
        os.kill(record.pid, sig)
        if sig == signal.SIGKILL:
            deadline = time.monotonic() + 10
            while is_running(record) and time.monotonic() < deadline:
                time.sleep(0.05)

    def _ip(self, *args: str) -> None:
        self._run("ip", *args)

    @staticmethod
    def _run(*argv: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise CLIError(f"`{' '.join(argv)}` failed: {proc.stderr.strip()}")
        return proc


def _netns_list() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]
