"""Let pods on different Docker networks reach each other (Kubernetes' flat pod network).

Docker isolates user-defined bridge networks from one another (its
DOCKER-ISOLATION chains drop traffic between them), so two node agents on one
machine (`kubelite up --nodes 2 --runtime docker`), or traffic routed in from
another machine, could not reach this node's pods.  Docker leaves the
DOCKER-USER chain to the administrator and evaluates it first: we accept
traffic from and to the node's pod CIDR there, tagged with a comment so the
rules can be found and removed again.
"""

from __future__ import annotations

import logging
import shutil

from kubelite.command import run_command

log = logging.getLogger(__name__)

CHAIN = "DOCKER-USER"


def rule_comment(network: str) -> str:
    return f"kubelite docker network {network}"


def accept_rules(network: str, pod_cidr: str) -> list[list[str]]:
    """The rule specs (after `-I/-C/-D DOCKER-USER`) for one node's pod CIDR."""
    comment = ["-m", "comment", "--comment", rule_comment(network)]
    return [
        ["-s", pod_cidr, *comment, "-j", "ACCEPT"],
        ["-d", pod_cidr, *comment, "-j", "ACCEPT"],
    ]


async def _iptables(*args: str) -> tuple[int, str]:
    done = await run_command("iptables", "-w", "5", *args)
    return done.code, (done.stdout + done.stderr).strip()


async def allow_pod_traffic(network: str, pod_cidr: str) -> str:
    """Insert the accept rules unless present; returns "" or why it could not (not fatal:
    pods then reach only pods of their own node)."""
    if shutil.which("iptables") is None:
        return "iptables not found"
    for spec in accept_rules(network, pod_cidr):
        code, _ = await _iptables("-C", CHAIN, *spec)
        if code == 0:
            continue
        code, out = await _iptables("-I", CHAIN, *spec)
        if code != 0:
            return f"iptables -I {CHAIN} failed: {out}"
    return ""


async def remove_pod_traffic_rules(network: str, pod_cidr: str) -> None:
    if shutil.which("iptables") is None:
        return
    for spec in accept_rules(network, pod_cidr):
        while (await _iptables("-D", CHAIN, *spec))[0] == 0:  # inserted twice by a race: all go
            pass
