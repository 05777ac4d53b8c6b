"""nftables rule sync benchmark: how long the proxy's NftablesDataplane takes to write N Services.

In a network namespace of its own (nothing touches this host's rules), with
--services Services of --endpoints endpoints each (default 1,000 × 10, the
target of issue 14: ≤ 1 s), it measures:

- full: a new proxy's first sync, the whole table in one transaction;
- one: one endpoint of one Service changes (the steady state: one rollout step);
- all: every Service loses one endpoint at once (a mass rollout, coalesced into one sync).

Each figure is wall time of `sync()` (render + `nft -f`), with the CPU of the
proxy process and of `nft` beside it, and the load average. The baseline in
the same run: `nft -f` of the same full table written by hand as a file,
i.e. what nft itself costs for that many rules (ratio = ours / nft alone).

    sudo .venv/bin/python bench/nft_sync_bench.py [--services 1000] [--endpoints 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import time

from kubelite_proxy import nftables
from kubelite_proxy.nft_dataplane import NftablesDataplane
from kubelite_proxy.rules import Backend, Frontend, PortRule, ServicePortName

NETNS = "klbench-nftsync"


def services(n: int, endpoints: int, drop: int = 0) -> dict[tuple[str, str], list[PortRule]]:
    """n Services with a cluster IP and a NodePort, `endpoints` endpoints each (minus `drop`)."""
    out = {}
    for i in range(n):
        spn = ServicePortName(f"ns{i % 20}", f"service-{i}", "http", "TCP")
        ip = f"10.{96 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}"
        backends = tuple(Backend(f"10.244.{(i * endpoints + j) // 250 % 250}.{(i * endpoints + j) % 250 + 2}", 8080)
                         for j in range(endpoints - drop))  # fmt: skip
        fronts = (Frontend(ip, 80, "TCP"), Frontend("0.0.0.0", 30000 + i % 2700, "TCP"))
        out[(spn.namespace, spn.name)] = [PortRule(spn, fronts if i < 2700 else fronts[:1], backends, None, ip)]
    return out


def _cpu() -> tuple[float, float]:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


async def _timed(dp: NftablesDataplane, table: dict[tuple[str, str], list[PortRule]],
                 first: bool = False) -> dict[str, float]:  # fmt: skip
    for key, rules in table.items():
        dp.set_rules(key, rules)
    own0, nft0 = _cpu()
    t0 = time.perf_counter()
    await (dp.start() if first else dp.sync())
    wall = time.perf_counter() - t0
    own1, nft1 = _cpu()
    if dp._dirty or dp._written is None:
        raise RuntimeError("sync failed (see the log)")
    return {"wall_s": wall, "proxy_cpu_s": own1 - own0, "nft_cpu_s": nft1 - nft0}


def _nft_alone(table: dict[tuple[str, str], list[PortRule]]) -> float:
    dp = NftablesDataplane(table="kubelite-proxy-baseline")
    for key, rules in table.items():
        dp.set_rules(key, rules)
    script = nftables.replace_script(dp.table, dp.blocks().values())
    t0 = time.perf_counter()
    subprocess.run(["ip", "netns", "exec", NETNS, "nft", "-f", "-"], input=script, text=True, check=True,
                   capture_output=True)  # fmt: skip
    return time.perf_counter() - t0


def _remove_netns() -> None:
    subprocess.run(["ip", "netns", "del", NETNS], capture_output=True)


def _fresh_netns() -> None:
    _remove_netns()
    subprocess.run(["ip", "netns", "add", NETNS], check=True)


async def run(args: argparse.Namespace) -> dict[str, object]:
    rounds: list[dict[str, dict[str, float]]] = []
    baseline: list[float] = []
    full = services(args.services, args.endpoints)
    for _ in range(args.rounds):
        _fresh_netns()
        dp = NftablesDataplane(table="kubelite-proxy-bench", command_prefix=["ip", "netns", "exec", NETNS])
        got = {"full": await _timed(dp, full, first=True)}
        one = dict(full)
        key = next(iter(full))
        one[key] = services(1, args.endpoints, drop=1)[("ns0", "service-0")]
        got["one"] = await _timed(dp, one)
        got["all"] = await _timed(dp, services(args.services, args.endpoints, drop=1))
        baseline.append(_nft_alone(full))
        rounds.append(got)
    _remove_netns()
    med = {k: {m: sorted(r[k][m] for r in rounds)[len(rounds) // 2] for m in rounds[0][k]} for k in rounds[0]}
    base = sorted(baseline)[len(baseline) // 2]
    return {"services": args.services, "endpoints_per_service": args.endpoints, "rounds": args.rounds,
            "load": os.getloadavg()[0], "nft_alone_full_s": base, "ratio_full_to_nft_alone": med["full"]["wall_s"] / base,
            **{f"{k}_{m}": v for k, ms in med.items() for m, v in ms.items()}}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--endpoints", type=int, default=10, help="endpoints per Service")
    ap.add_argument("--rounds", type=int, default=3, help="medians over this many rounds")
    args = ap.parse_args()
    res = asyncio.run(run(args))
    print(f"nftables sync: {args.services} Services x {args.endpoints} endpoints, medians of {args.rounds}, "
          f"load {res['load']:.2f}")  # fmt: skip
    print(f"{'sync':<34}{'wall s':>10}{'proxy CPU s':>14}{'nft CPU s':>12}")
    for k, label in (("full", "first sync (whole table)"), ("one", "one endpoint of one Service"),
                     ("all", "every Service loses an endpoint")):  # fmt: skip
        print(f"{label:<34}{res[f'{k}_wall_s']:>10.3f}{res[f'{k}_proxy_cpu_s']:>14.3f}{res[f'{k}_nft_cpu_s']:>12.3f}")
    print(f"nft -f of the same table alone: {res['nft_alone_full_s']:.3f} s "
          f"(first sync / nft alone = {res['ratio_full_to_nft_alone']:.2f}); target: first sync <= 1 s: "
          f"{'met' if res['full_wall_s'] <= 1.0 else 'MISSED'}")  # fmt: skip
    print("BENCH_JSON " + json.dumps(res))


if __name__ == "__main__":
    main()
