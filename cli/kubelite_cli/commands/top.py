"""`kubelite top pods|nodes` (kubectl top): CPU and memory from the metrics.k8s.io API."""

from __future__ import annotations

import argparse
from typing import Any

from kubelite.api.quantity import cpu_millis, memory_bytes
from kubelite.errors import APIError
from kubelite.printers import render_table
from kubelite_cli.errors import CLIError
from kubelite_cli.session import Session, resolve_resource

JSON = dict[str, Any]
MI = 1024 * 1024


def cores(quantity: str) -> str:
    """kubectl's CPU column: millicores ("2500000n" -> "3m", rounded up)."""
    return f"{cpu_millis(quantity)}m"


def mebibytes(quantity: str) -> str:
    """kubectl's memory column: whole MiB, rounded down ("3072Ki" -> "3Mi")."""
    return f"{memory_bytes(quantity) // MI}Mi"


def pod_rows(items: list[JSON], *, containers: bool, all_namespaces: bool) -> tuple[list[str], list[list[str]]]:
    header = [*(["NAMESPACE"] if all_namespaces else []), "POD" if containers else "NAME",
              *(["NAME"] if containers else []), "CPU(cores)", "MEMORY(bytes)"]
    rows = []
    for m in sorted(items, key=lambda m: (m["metadata"].get("namespace", ""), m["metadata"]["name"])):
        meta = m["metadata"]
        prefix = [meta.get("namespace", "")] if all_namespaces else []
        if containers:
            for c in m.get("containers") or []:
                rows.append([*prefix, meta["name"], c["name"], cores(c["usage"]["cpu"]),
                             mebibytes(c["usage"]["memory"])])
            continue
        cpu = sum(cpu_millis(c["usage"]["cpu"]) for c in m.get("containers") or [])
        mem = sum(memory_bytes(c["usage"]["memory"]) for c in m.get("containers") or [])
        rows.append([*prefix, meta["name"], f"{cpu}m", f"{mem // MI}Mi"])
    return header, rows


def node_rows(items: list[JSON], allocatable: dict[str, JSON]) -> list[list[str]]:
    """NAME, CPU, CPU%, MEMORY, MEMORY% (percentages of the node's allocatable, as kubectl)."""
    rows = []
    for m in sorted(items, key=lambda m: m["metadata"]["name"]):
        name, usage = m["metadata"]["name"], m["usage"]
        alloc = allocatable.get(name) or {}
        cpu, mem = cpu_millis(usage["cpu"]), memory_bytes(usage["memory"])
        cpu_pct = f"{cpu * 100 // cpu_millis(alloc['cpu'])}%" if alloc.get("cpu") else "<unknown>"
        mem_pct = f"{mem * 100 // memory_bytes(alloc['memory'])}%" if alloc.get("memory") else "<unknown>"
        rows.append([name, f"{cpu}m", cpu_pct, f"{mem // MI}Mi", mem_pct])
    return rows


def run(args: argparse.Namespace) -> int:
    kind = args.kind.lower()
    if kind not in ("pod", "pods", "po", "node", "nodes", "no"):
        raise CLIError(f"unknown command \"top {args.kind}\": top takes pods or nodes")
    session = Session.from_args(args)
    try:
        if kind.startswith("po"):
            return _top_pods(session, args)
        return _top_nodes(session, args)
    except APIError as exc:
        if exc.code == 404:
            raise CLIError("Metrics API not available") from exc
        raise
    finally:
        session.close()


def _top_pods(session: Session, args: argparse.Namespace) -> int:
    ns = None if args.all_namespaces else session.namespace
    items = session.api.list("pods.metrics.k8s.io", ns, label_selector=args.selector).get("items") or []
    if args.name:
        items = [m for m in items if m["metadata"]["name"] == args.name]
        if not items:
            raise CLIError(f"Metrics not available for pod {session.namespace}/{args.name}")
    if not items:
        where = "" if args.all_namespaces else f" in {session.namespace} namespace"
        print(f"No resources found{where}.")
        return 0
    header, rows = pod_rows(items, containers=args.containers, all_namespaces=args.all_namespaces)
    print(render_table(header, rows))
    return 0


def _top_nodes(session: Session, args: argparse.Namespace) -> int:
    items = session.api.list("nodes.metrics.k8s.io", None, label_selector=args.selector).get("items") or []
    if args.name:
        items = [m for m in items if m["metadata"]["name"] == args.name]
        if not items:
            raise CLIError(f"metrics not available yet for node {args.name}")
    nodes = session.api.list(resolve_resource("nodes"), None).get("items") or []
    allocatable = {n["metadata"]["name"]: (n.get("status") or {}).get("allocatable") or {} for n in nodes}
    print(render_table(["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"], node_rows(items, allocatable)))
    return 0
