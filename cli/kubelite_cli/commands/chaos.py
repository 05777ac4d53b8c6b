"""`kubelite chaos list | run SCENARIO | run --all`: faults injected into a running lab while a
Deployment behind a NodePort Service takes steady traffic and the API takes steady writes; one
verdict line per invariant, and a report directory (report.html, events.json). docs/lab.md."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from kubelite.client.tls import client_context
from kubelite.credentials import admin_credentials
from kubelite.pki import ClusterPKI
from kubelite.printers import render_table
from kubelite_cli.chaos import invariants, probes, report
from kubelite_cli.chaos.faults import LabControl
from kubelite_cli.chaos.scenarios import (
    BUSIEST_WORKER,
    HOST_DOWN,
    LINK_DOWN,
    Scenario,
    catalog,
    with_host,
)
from kubelite_cli.errors import CLIError
from kubelite_cli.lab import state, topology

BASELINE_SECONDS = 3.0
TAIL_SECONDS = 3.0


def _lab(args: argparse.Namespace) -> state.LabState:
    data_dir = Path(args.data_dir).expanduser().resolve()
    lab = state.load(data_dir)
    if lab is None:
        raise CLIError(f"no lab in {data_dir}: chaos runs against one (`kubelite lab up --data-dir {args.data_dir}`)")
    return lab


def run_chaos_list(args: argparse.Namespace) -> int:
    lab = _lab(args)
    print(render_table(["SCENARIO", "WHAT IT DOES"], [[s.name, s.description] for s in catalog(lab.spec())]))
    return 0


def _chosen(lab: state.LabState, args: argparse.Namespace) -> list[Scenario]:
    known = catalog(lab.spec())
    if args.all:
        return known
    if not args.scenario:
        raise CLIError("name a scenario or give --all; `kubelite chaos list` shows them")
    chosen = [s for name in args.scenario for s in known if s.name == name]
    unknown = [n for n in args.scenario if n not in {s.name for s in known}]
    if unknown:
        raise CLIError(f"unknown scenario {unknown[0]!r}; known: {', '.join(s.name for s in known)}")
    return chosen


def run_chaos_run(args: argparse.Namespace) -> int:
    lab = _lab(args)
    scenarios = _chosen(lab, args)
    admin = admin_credentials(ClusterPKI(Path(lab.data_dir) / "pki"))
    api = probes.Api(lab.apiserver_url, client_context(ca_pem=admin.ca_pem, cert_pem=admin.cert_pem,
                                                       key_pem=admin.key_pem))
    control = LabControl(lab, api)
    started = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = Path(args.report or Path(lab.data_dir) / "chaos" / started)
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"preparing {probes.APP} ({probes.REPLICAS} replicas) behind a NodePort Service and "
          f"{probes.STATEFUL} ({probes.ORDINALS} ordinals)", flush=True)
    beat_dir = Path(lab.data_dir) / "chaos" / "beats"
    ctx = _Context(control, api, {w.name: w.ip for w in topology.workers(lab.spec())},
                   probes.ensure_workload(api, beat_dir), args.converge_timeout, beat_dir)
    results, raw = [], []
    for round_no in range(1, args.repeat + 1):
        for scenario in scenarios:
            label = f" (run {round_no}/{args.repeat})" if args.repeat > 1 else ""
            print(f"\n== {scenario.name}{label}: {scenario.description}", flush=True)
            result, samples = _run_guarded(scenario, ctx, run_id=f"{started.lower()}-{round_no}")
            for verdict in result.verdicts:
                print(f"  {verdict.line()}", flush=True)
            results.append(result)
            raw.append(samples)
    if args.repeat > 1 or len(scenarios) > 1:
        print("\n" + render_table(["SCENARIO", "PASSED", *(f"{f.upper()} (MEDIAN S)" for f in report.FIGURES)],
                                  report.summary(results)))
    (out_dir / "events.json").write_text(json.dumps(raw, indent=1) + "\n")
    (out_dir / "report.html").write_text(report.render(results, lab=lab.name, started=started))
    passed = sum(r.ok for r in results)
    print(f"\n{passed}/{len(results)} scenarios passed; report: {out_dir / 'report.html'}")
    return 0 if passed == len(results) else 1


@dataclass(frozen=True)
class _Context:
    """What every scenario of a run uses."""

    control: LabControl
    api: probes.Api
    targets: dict[str, str]  # worker -> its address (its NodePort takes traffic)
    port: int  # the Service's NodePort
    converge_timeout: float
    beat_dir: Path  # the StatefulSet's heartbeats

    def whole(self) -> bool:
        """The workloads converged and the Service answering through every worker: a restarted
        proxy counts as recovered once it serves again, not when its process is back."""
        return probes.converged(self.api) and all(probes.answers(ip, self.port) for ip in self.targets.values())


def _run_guarded(scenario: Scenario, ctx: _Context, run_id: str) -> tuple[report.ScenarioResult, dict]:
    """`_run_one`, or a failed result when the lab was not whole before the fault (the rest run)."""
    try:
        return _run_one(scenario, ctx, run_id)
    except CLIError as exc:
        verdict = invariants.Verdict("lab whole before the fault", False, str(exc))
        result = report.ScenarioResult(scenario.name, scenario.description, [],
                                       invariants.Window(0.0, 0.0, None), [verdict], 0.0)
        return result, {"scenario": scenario.name, "verdicts": [asdict(verdict)]}


def _wait(ready: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        time.sleep(0.5)
    return False


def _prepare(scenario: Scenario, ctx: _Context) -> tuple[Scenario, str, int]:
    """A whole lab before the fault (every process, etcd with a leader, the workload converged
    and answering through every host), the scenario's roles resolved to hosts, and the host it
    takes away with the number of the workload's pods on it."""
    control, api, targets = ctx.control, ctx.api, ctx.targets
    for name in control.settle():
        print(f"  note: {name} was not running before the fault; started it again", flush=True)
    if not _wait(lambda: probes.converged(api), 60.0):
        raise CLIError(f"the workloads are not whole before the fault (60 s): see `kubectl -n {probes.NAMESPACE} get pods`")
    if not _wait(ctx.whole, 60.0):
        raise CLIError(f"the Service does not answer through every worker before the fault (60 s, port {ctx.port})")
    if any(f.target == BUSIEST_WORKER for f in scenario.faults):
        counts = probes.pods_per_node(api)
        scenario = with_host(scenario, BUSIEST_WORKER, max(sorted(targets), key=lambda h: counts.get(h, 0)))
    avoid = next((f.target for f in scenario.faults if f.action in (LINK_DOWN, HOST_DOWN) and f.target in targets), "")
    return scenario, avoid, probes.pods_per_node(api).get(avoid, 0) if avoid else 0


def _run_one(scenario: Scenario, ctx: _Context, run_id: str) -> tuple[report.ScenarioResult, dict]:
    scenario, avoid, pods_on_avoid = _prepare(scenario, ctx)
    control, api, converge_timeout = ctx.control, ctx.api, ctx.converge_timeout
    beats_since = probes.uptime()
    moved_at: float | None = None
    detected_at: float | None = None  # when the Service's Endpoints dropped the lost host's pods
    converged_at: float | None = None
    problems: list[str] = []
    with probes.Recorder(api, ctx.targets, ctx.port, scenario.name, run_id) as rec:
        time.sleep(BASELINE_SECONDS)
        fault_start = rec.event("fault", faults=[asdict(f) for f in scenario.faults])
        hits = []
        try:
            for fault in scenario.faults:
                hits.append((fault, control.inject(fault)))
                rec.event("injected", fault=fault.action, hit=hits[-1][1])
            while rec.now() < fault_start + scenario.hold_seconds:
                if avoid and detected_at is None and probes.endpoints_exclude(api, avoid):
                    detected_at = rec.event("endpoints updated")
                if avoid and moved_at is None and probes.converged(api, avoid_node=avoid):
                    moved_at = rec.event("replaced elsewhere")
                time.sleep(0.5)
        except Exception as exc:  # a fault that could not be done is a failed run, not a crash
            problems.append(f"inject: {exc}")
        fault_end = rec.event("recover")
        for fault, hit in reversed(hits):
            try:
                control.recover(fault, hit)
            except Exception as exc:
                problems.append(f"recover {hit}: {exc}")
        deadline = rec.now() + converge_timeout
        while rec.now() < deadline:
            if ctx.whole():
                converged_at = rec.event("converged")
                break
            time.sleep(0.5)
        time.sleep(TAIL_SECONDS)
        end = rec.now()
    window = invariants.Window(fault_start, fault_end, converged_at)
    verdicts = [
        invariants.Verdict("fault injected and recovered", not problems, "; ".join(problems) or
                           ", ".join(hit for _f, hit in hits)),
        invariants.service_during_fault(rec.requests, window, scenario.max_error_rate, scenario.lost_hosts,
                                        scenario.detection_seconds, detected_at),
        invariants.writes_during_fault(rec.writes, window, scenario.writes_refused),
        invariants.writes_kept(rec.writes, rec.stored()),
        invariants.converged(window, converge_timeout),
        invariants.service_after_recovery(rec.requests, window, end),
        invariants.ordinals_once(probes.read_beats(ctx.beat_dir, beats_since)),
    ]
    if avoid:
        verdicts.append(invariants.replaced(avoid, pods_on_avoid, moved_at, fault_start, scenario.hold_seconds))
    if avoid and scenario.detection_seconds:
        verdicts.append(invariants.lost_host_left_endpoints(avoid, detected_at, window))
    figures = {"write gap": invariants.longest_write_gap(rec.writes, fault_start, converged_at or end)}
    if converged_at is not None:
        figures["converge"] = max(0.0, converged_at - fault_end)
    if moved_at is not None:
        figures["replaced"] = moved_at - fault_start
    if detected_at is not None:
        figures["detected"] = detected_at - fault_start
    result = report.ScenarioResult(scenario.name, scenario.description, rec.requests, window, verdicts, end, figures)
    samples = {"scenario": scenario.name, "events": rec.events,
               "requests": [[round(r.at, 3), r.ok, r.target] for r in rec.requests],
               "writes": [asdict(w) for w in rec.writes], "verdicts": [asdict(v) for v in verdicts],
               "figures": figures}
    return result, samples
