"""Every conversation on the bus, in one list: the table in docs/architecture.md is
generated from it (`python -m kubelite.bus.catalog`), and a test keeps the two equal.

A row names the subject pattern, who publishes, the payload type (with the module
that defines it and the function that builds the subject) and who listens.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    subject: str  # pattern, <angle> parts are tokens
    builder: str  # module.function that builds it
    publisher: str
    payload: str  # type (module)
    listeners: str


TOPICS: tuple[Topic, ...] = (
    Topic("kubelite.changes.<plural>.<ns>.<name>", "changes.subject",
          "apiserver, after every committed write", "`WatchEvent` (`bus.changes`)",
          "proxies (services, endpoints), node agents (nodes, endpoints, services, every "
          "namespace's kube-root-ca.crt), `kubelite events -f`"),
    Topic("kubelite.node.<node>.pods", "changes.node_pods",
          "apiserver, for every write of a pod with `spec.nodeName`", "`WatchEvent` of a Pod (`bus.changes`)",
          "that node's agent"),
    Topic("kubelite.api.<kind>.<name>.<verb>.<plural>", "identity.api_subject",
          "any component, on its own identity's subjects only (request)",
          "`APIRequest` → `APIResponse` (`bus.api`)",
          "apiservers, queue group `kubelite-apiserver` (one replica answers, authorized as the caller)"),
    Topic("kubelite.node.<node>.rpc.logs", "logs.subject", "apiserver (request)",
          "`LogRequest`, then frames `D`/`S`/`E` to the asker's inbox (`bus.logs`)", "that node's agent"),
    Topic("kubelite.node.<node>.rpc.exec", "streaming.exec_subject", "apiserver (request)",
          "`ExecRequest`, then a session of frames on inboxes `I`, `I.in` (`bus.streaming`)",
          "that node's agent"),
    Topic("kubelite.node.<node>.rpc.attach", "streaming.attach_subject", "apiserver (request)",
          "`ExecRequest` without a command, then a session as for exec (`bus.streaming`)", "that node's agent"),
    Topic("kubelite.node.<node>.rpc.portforward", "streaming.portforward_subject", "apiserver (request)",
          "`PortForwardRequest`, then a session as for exec (`bus.streaming`)", "that node's agent"),
    Topic("kubelite.node.<node>.rpc.volumedelete", "volumes.subject",
          "controller-manager's local-path provisioner (request)",
          "`VolumeDeleteRequest` → `VolumeDeleteReply` (`bus.volumes`)", "that node's agent"),
    Topic("kubelite.node.<node>.metrics", "metrics.subject", "that node's agent, every metrics resolution",
          "`NodeReport` (`bus.metrics`, msgpack)", "apiservers (metrics.k8s.io for `kubectl top` and autoscaling)"),
    Topic("kubelite.node.<node>.session.<id>", "subjects.node_session",
          "apiserver and that node's agent", "log and stream frames on it and its `.in`, `.alive`, `.cancel` "
          "(`bus.logs`, `bus.streaming`)",
          "the other side of the session"),
    Topic("kubelite.proxy.<node>.applied", "proxy.applied",
          "each proxy, after applying an Endpoints change", "`Applied` (`bus.proxy`)",
          "node agents (zero-drop termination)"),
    Topic("kubelite.decisions.scheduler.<ns>.<pod>", "decisions.scheduler", "scheduler",
          "`SchedulingDecision` (`bus.decisions`)", "`kubelite events -f`, people"),
    Topic("kubelite.decisions.<controller>.<ns>.<name>", "decisions.controller", "controller-manager",
          "`ControllerDecision` (`bus.decisions`)", "`kubelite events -f`, people"),
)


def markdown_table() -> str:
    rows = ["| subject | built by `kubelite.bus.` | who publishes | payload | who listens |",
            "|---|---|---|---|---|"]
    rows += [f"| `{t.subject}` | `{t.builder}` | {t.publisher} | {t.payload} | {t.listeners} |" for t in TOPICS]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
