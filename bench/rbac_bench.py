"""CPU of one RBAC decision, walked for every request against remembered per user and namespace.

No cluster: the apiserver's bootstrap policy (`kubelite.auth.policy`: its ClusterRoles and
ClusterRoleBindings) plus --namespaces namespaces with --bindings RoleBindings each, and the
requests a cluster at scale mostly sees, each asked --rounds times:

- a node agent reporting a pod's status (`system:node:<name>`, patch pods/status);
- a node agent asking a pod's ServiceAccount token (create serviceaccounts/token);
- a ServiceAccount reading a ConfigMap in its namespace (a RoleBinding grants it);
- a user of group system:authenticated asking for discovery (get /api).

Each request is decided by `rbac.authorize` (every ClusterRoleBinding's and the namespace's
RoleBindings' subjects walked, as before) and through `rbac.RuleMemo` (what the apiserver's
Authorizer does now: the walk remembered per (user, groups, namespace) until an RBAC object
changes), interleaved, in one process; the ratio memo / walk is the figure to compare.

    .venv/bin/python bench/rbac_bench.py [--namespaces 50] [--bindings 3] [--nodes 100] [--rounds 5]

Prints µs per decision for each and one `BENCH_JSON` line.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable

from kubelite.api.meta import ObjectMeta
from kubelite.api.rbac_v1 import (
    ClusterRole,
    ClusterRoleBinding,
    PolicyRule,
    Role,
    RoleBinding,
    RoleRef,
    Subject,
)
from kubelite.auth import policy, rbac
from kubelite.auth.rbac import Attributes
from kubelite.auth.user import AUTHENTICATED, UserInfo, service_account_user


class Source:
    """The bootstrap policy plus each namespace's Role and RoleBindings, as dicts."""

    def __init__(self, namespaces: int, bindings: int) -> None:
        self.cluster_roles = {r.metadata.name: r for r in policy.cluster_roles()}
        self.crbs: list[ClusterRoleBinding] = list(policy.cluster_role_bindings())
        self.roles: dict[tuple[str, str], Role] = {}
        self.rbs: dict[str, list[RoleBinding]] = {}
        for n in range(namespaces):
            ns = f"ns-{n}"
            self.roles[(ns, "config-reader")] = Role(
                metadata=ObjectMeta(name="config-reader", namespace=ns),
                rules=[PolicyRule(verbs=["get", "list", "watch"], apiGroups=[""], resources=["configmaps"])])
            self.rbs[ns] = [RoleBinding(
                metadata=ObjectMeta(name=f"app-{b}", namespace=ns),
                subjects=[Subject(kind="ServiceAccount", name=f"app-{b}", namespace=ns)],
                roleRef=RoleRef(kind="Role", name="config-reader")) for b in range(bindings)]

    def cluster_role_bindings(self) -> list[ClusterRoleBinding]:
        return self.crbs

    def role_bindings(self, namespace: str) -> list[RoleBinding]:
        return self.rbs.get(namespace, [])

    def cluster_role(self, name: str) -> ClusterRole | None:
        return self.cluster_roles.get(name)

    def role(self, namespace: str, name: str) -> Role | None:
        return self.roles.get((namespace, name))

    def generation(self) -> int:
        return 0


def requests(opts: argparse.Namespace) -> dict[str, list[Attributes]]:
    nodes = [UserInfo(f"system:node:node-{n}", ("system:nodes", AUTHENTICATED)) for n in range(opts.nodes)]
    out: dict[str, list[Attributes]] = {"node pod status": [], "node token": [], "SA configmap": [],
                                        "discovery": []}
    for i in range(opts.nodes * 10):
        node, ns = nodes[i % opts.nodes], f"ns-{i % opts.namespaces}"
        out["node pod status"].append(Attributes(node, "patch", ns, "", "pods", "status", f"pod-{i}"))
        out["node token"].append(Attributes(node, "create", ns, "", "serviceaccounts", "token", "default"))
        sa = service_account_user(ns, f"app-{i % opts.bindings}")
        out["SA configmap"].append(Attributes(sa, "get", ns, "", "configmaps", name=f"cm-{i}"))
        user = UserInfo(f"user-{i % 50}", (AUTHENTICATED,))
        out["discovery"].append(Attributes(user, "get", path="/api", resource_request=False))
    return out


def per_decision_us(decide: Callable[[Attributes], rbac.Decision], batch: list[Attributes]) -> float:
    started = time.process_time()
    for attrs in batch:
        decide(attrs)
    return (time.process_time() - started) / len(batch) * 1e6


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--namespaces", type=int, default=50)
    p.add_argument("--bindings", type=int, default=3, help="RoleBindings per namespace")
    p.add_argument("--nodes", type=int, default=100)
    p.add_argument("--rounds", type=int, default=5)
    opts = p.parse_args()
    src = Source(opts.namespaces, opts.bindings)
    memo = rbac.RuleMemo(src, src.generation)
    load = os.getloadavg()[0]
    results: dict[str, dict[str, float]] = {}
    for kind, batch in requests(opts).items():
        walked, memoized = [], []
        for _ in range(opts.rounds):  # interleaved: both see the same machine
            walked.append(per_decision_us(lambda a: rbac.authorize(src, a), batch))
            memoized.append(per_decision_us(lambda a: rbac.decide(memo.rules(a.user, a.namespace), a), batch))
        allowed = sum(rbac.authorize(src, a).allowed for a in batch)
        results[kind] = {"walk_us": round(min(walked), 2), "memo_us": round(min(memoized), 2),
                         "ratio": round(min(memoized) / min(walked), 3), "allowed": allowed, "n": len(batch)}
    print(f"RBAC decisions: {len(src.crbs)} ClusterRoleBindings, {opts.namespaces} namespaces × "
          f"{opts.bindings} RoleBindings, least of {opts.rounds} rounds (load {load:.2f})")
    print(f"{'request':20} {'walk µs':>9} {'memo µs':>9} {'memo/walk':>10} {'allowed':>9}")
    for kind, r in results.items():
        print(f"{kind:20} {r['walk_us']:9.2f} {r['memo_us']:9.2f} {r['ratio']:10.3f} {r['allowed']:>5}/{r['n']}")
    print("BENCH_JSON " + json.dumps({"bench": "rbac", "options": vars(opts), "load": load, "results": results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
