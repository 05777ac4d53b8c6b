"""Paged LISTs of every pod, as kubectl makes them (`limit=500`, then `continue` tokens), served
two ways in one run on one apiserver with its own etcd and NATS:

- `etcd`: every page read from etcd at the first page's revision, decoded, filtered and encoded
  again — how every paged LIST was served before the pod cache kept snapshots. Forced by asking
  for the revision exactly (`limit=500&resourceVersion=R`, Kubernetes' legacy exact form), at
  a revision of which no snapshot is kept.
- `cache`: a consistent paged LIST (no resourceVersion): the first page takes a snapshot of the
  pod cache, the others are slices of it (listsnapshots.py, Kubernetes' KEP-4988).

Each round writes two ConfigMaps, at revisions R1 and R2: the etcd walk reads at R1 exactly (no
snapshot is ever taken there: a consistent LIST takes its snapshot at the newest revision, R2 by
then), the cache walk at R2. Only a ConfigMap changed between them, so both must return the
same pods in the same order (checked), and each walk must have been served as named (checked
from the apiserver's kubelite_apiserver_cache_snapshot_pages_total). The walks alternate in
order; each is timed (wall, and the apiserver's and etcd's CPU from /proc). The ratios to read
are cache / etcd of each.

    .venv/bin/python bench/paged_list_bench.py [--pods 20000] [--page 500] [--rounds 3]

Prints a table and one BENCH_JSON line. Every request has a deadline; servers are stopped on
exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from typing import Any

import msgspec
import rawhttp
from apiserver_bench import TLS, Cluster, pod_manifest, start_cluster, use_uvloop
from localcluster import cpu_seconds

DEADLINE_S = 120.0  # for every request
PODS = "/api/v1/namespaces/default/pods"


class _Meta(msgspec.Struct):
    name: str = ""


class _Item(msgspec.Struct):
    metadata: _Meta


class _ListMeta(msgspec.Struct):
    resourceVersion: str = ""
    continue_: str = msgspec.field(default="", name="continue")


class _List(msgspec.Struct):
    metadata: _ListMeta
    items: list[_Item]


_decode = msgspec.json.Decoder(_List).decode


async def create_pods(url: str, count: int, clients: int) -> float:
    """`count` pods in `default`, from `clients` connections; the creates per second."""
    started = time.perf_counter()

    async def client(k: int) -> None:
        conn = rawhttp.Connection(url, verify=TLS.context, timeout=DEADLINE_S)
        try:
            for i in range(k, count, clients):
                resp = await conn.request("POST", PODS, json=json.loads(pod_manifest(f"p-{i:06d}")))
                if resp.status_code != 201:
                    raise RuntimeError(f"create p-{i:06d}: HTTP {resp.status_code} {resp.text[:200]}")
        finally:
            await conn.aclose()

    await asyncio.gather(*(client(k) for k in range(clients)))
    return count / (time.perf_counter() - started)


async def walk(conn: rawhttp.Connection, first: dict[str, str]) -> tuple[list[str], str, int]:
    """Every page of a paged LIST that starts with `first`'s parameters: names, revision, pages."""
    names: list[str] = []
    params, revision, pages = dict(first), "", 0
    while True:
        resp = await conn.get(PODS, params=params)
        if resp.status_code != 200:
            raise RuntimeError(f"LIST {params}: HTTP {resp.status_code} {resp.text[:200]}")
        page = _decode(resp.content)
        pages += 1
        names += [item.metadata.name for item in page.items]
        revision = revision or page.metadata.resourceVersion
        if page.metadata.resourceVersion != revision:
            raise RuntimeError(f"page {pages} at revision {page.metadata.resourceVersion}, not {revision}")
        if not page.metadata.continue_:
            return names, revision, pages
        params = {"limit": first["limit"], "continue": page.metadata.continue_}


async def _configmap(conn: rawhttp.Connection, name: str) -> str:
    """Create a ConfigMap in `default`; its resourceVersion (etcd's newest revision)."""
    resp = await conn.post("/api/v1/namespaces/default/configmaps",
                           json={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}})
    resp.raise_for_status()
    return str(resp.json()["metadata"]["resourceVersion"])


async def _snapshot_pages(conn: rawhttp.Connection) -> dict[str, float]:
    """kubelite_apiserver_cache_snapshot_pages_total by `served`."""
    text = (await conn.get("/metrics")).text
    prefix = 'kubelite_apiserver_cache_snapshot_pages_total{served="'
    return {line[len(prefix):].split('"')[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line.startswith(prefix)}


def _check_served(way: str, pages: int, before: dict[str, float], after: dict[str, float]) -> None:
    moved = {key: after.get(key, 0.0) - before.get(key, 0.0) for key in ("first", "next", "etcd")}
    want = ({"first": 0, "next": 0, "etcd": pages - 1} if way == "etcd"
            else {"first": 1, "next": pages - 1, "etcd": 0})
    if moved != want:
        raise RuntimeError(f"the {way} walk was not served as named: pages by source {moved}, want {want}")


async def one_round(url: str, opts: argparse.Namespace, pids: dict[str, int], k: int) -> dict[str, dict[str, Any]]:
    conn = rawhttp.Connection(url, verify=TLS.context, timeout=DEADLINE_S)
    try:
        older = await _configmap(conn, f"round-{k}-a")
        newest = await _configmap(conn, f"round-{k}-b")
        ways = {"etcd": ({"limit": str(opts.page), "resourceVersion": older}, older),
                "cache": ({"limit": str(opts.page)}, newest)}
        order = ["etcd", "cache"] if k % 2 == 0 else ["cache", "etcd"]
        out: dict[str, dict[str, Any]] = {}
        for way in order:
            params, revision = ways[way]
            served = await _snapshot_pages(conn)
            cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
            t0 = time.perf_counter()
            names, got_rv, pages = await walk(conn, params)
            wall = time.perf_counter() - t0
            cpu = {name: round((cpu_seconds(pid) - cpu0[name]) * 1000) for name, pid in pids.items()}
            _check_served(way, pages, served, await _snapshot_pages(conn))
            if got_rv != revision:
                raise RuntimeError(f"{way}: read at {got_rv}, not at {revision}")
            out[way] = {"wall_s": round(wall, 3), "pages": pages, "items": len(names), "names": names,
                        "apiserver_cpu_ms": cpu["apiserver"], "etcd_cpu_ms": cpu["etcd"]}
        if out["etcd"]["names"] != out["cache"]["names"]:
            raise RuntimeError("the two walks returned different pods")
        for way in out.values():
            del way["names"]
        return out
    finally:
        await conn.aclose()


def _median(rounds: list[dict[str, dict[str, Any]]], way: str, key: str) -> float:
    return statistics.median(r[way][key] for r in rounds)


async def run(url: str, opts: argparse.Namespace, pids: dict[str, int]) -> dict[str, Any]:
    print(f"# creating {opts.pods} pods", file=sys.stderr, flush=True)
    rate = await create_pods(url, opts.pods, opts.clients)
    rounds = []
    for k in range(opts.rounds):
        rounds.append(await one_round(url, opts, pids, k))
        print(f"# round {k + 1}: " + ", ".join(f"{way} {r['wall_s']} s" for way, r in rounds[-1].items()),
              file=sys.stderr, flush=True)
    result: dict[str, Any] = {"creates_per_s": round(rate, 1), "rounds": rounds}
    for way in ("etcd", "cache"):
        result[way] = {key: round(_median(rounds, way, key), 3) for key in ("wall_s", "apiserver_cpu_ms", "etcd_cpu_ms")}
    for key in ("wall_s", "apiserver_cpu_ms"):
        result[f"cache_over_etcd_{key}"] = round(result["cache"][key] / max(result["etcd"][key], 1e-9), 3)
    both = {way: result[way]["apiserver_cpu_ms"] + result[way]["etcd_cpu_ms"] for way in ("etcd", "cache")}
    result["cache_over_etcd_cpu"] = round(both["cache"] / max(both["etcd"], 1e-9), 3)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pods", type=int, default=20_000)
    parser.add_argument("--page", type=int, default=500, help="limit per page (kubectl's --chunk-size)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16, help="connections the creates are spread over")
    opts = parser.parse_args()
    use_uvloop()
    load_before = [round(x, 2) for x in os.getloadavg()]
    cluster: Cluster = start_cluster(False, [])
    try:
        pids = cluster.pids()
        result = asyncio.run(run(cluster.url, opts, pids))
    finally:
        cluster.stop()
    load_after = [round(x, 2) for x in os.getloadavg()]
    print(f"\npaged LIST of {opts.pods} pods, limit {opts.page}, median of {opts.rounds} rounds "
          f"(load {load_before[0]} -> {load_after[0]}; {result['creates_per_s']} creates/s before)")
    print(f"{'':28}{'etcd':>12}{'cache':>12}{'cache / etcd':>14}")
    for key in ("wall_s", "apiserver_cpu_ms", "etcd_cpu_ms"):
        ratio = result["cache"][key] / result["etcd"][key] if result["etcd"][key] else float("nan")
        print(f"{key:28}{result['etcd'][key]:>12.3f}{result['cache'][key]:>12.3f}{ratio:>14.3f}")
    print(f"(apiserver + etcd) CPU, cache / etcd: {result['cache_over_etcd_cpu']}")
    print("BENCH_JSON " + json.dumps({
        "bench": "paged_list", "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "loadavg_before": load_before, "loadavg_after": load_after, "options": vars(opts), **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
