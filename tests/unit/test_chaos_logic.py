"""Chaos verdicts and the report (pure): what a run's samples mean, and the page that shows them."""

from __future__ import annotations

from kubelite_cli.chaos import invariants, report
from kubelite_cli.chaos.invariants import Beat, Request, Verdict, Window, Write
from kubelite_cli.chaos.scenarios import BUSIEST_WORKER, by_name, catalog, with_host
from kubelite_cli.lab.topology import LabSpec


def test_error_rate_is_judged_inside_the_fault_window_only() -> None:
    requests = [Request(t / 10, not (50 <= t < 60), "w-1") for t in range(300)]  # 10 failures in 5-6 s
    window = Window(fault_start=4.0, fault_end=14.0, converged_at=16.0)
    during = invariants.service_during_fault(requests, window, allowed=0.0)
    assert (during.ok, during.detail) == (False, "10.0% (10/100, allowed 0.0%)")
    assert invariants.service_during_fault(requests, window, allowed=0.1).ok
    after = invariants.service_after_recovery(requests, window, end=30.0)
    assert (after.ok, after.detail) == (True, "0/30 failed in the last 3 s")
    assert not invariants.service_during_fault([], window, allowed=1.0).ok  # no traffic proves nothing
    # a silent host: its pods stay in the Endpoints until it is declared lost; that window is not counted
    early = [Request(window.fault_start + 1, False, "w-2"), Request(window.fault_start + 9, True, "w-2")]
    assert not invariants.service_during_fault(early, window, allowed=0.0).ok
    settled = invariants.service_during_fault(early, window, allowed=0.0, detection=8.0)
    assert settled.ok and "first 8 s (detection) not counted" in settled.detail


def test_a_slow_detection_moves_the_counted_window_to_the_endpoints_change() -> None:
    """Under load the node lifecycle controller may take longer than the nominal 8 s: requests
    sent to pods the Endpoints still listed are not the Service's fault; those sent once every
    proxy had the change (PROPAGATION_SECONDS after it) are counted, and must all succeed."""
    window = Window(fault_start=10.0, fault_end=30.0, converged_at=35.0)
    requests = [Request(10.0 + t / 10, t != 95, "w-1") for t in range(200)]  # one failure at 19.5 s
    assert not invariants.service_during_fault(requests, window, 0.0, detection=8.0).ok
    late = invariants.service_during_fault(requests, window, 0.0, detection=8.0, detected_at=17.0)
    assert (late.ok, late.detail) == (True, "0.0% (0/100, allowed 0.0%; the first 10 s (detection) not counted)")
    early = invariants.service_during_fault(requests, window, 0.0, detection=8.0, detected_at=13.0)
    assert not early.ok and "first 8 s" in early.detail  # detected sooner: the nominal window holds
    failing_after = [*requests, Request(26.0, False, "w-1")]
    assert not invariants.service_during_fault(failing_after, window, 0.0, detection=8.0, detected_at=17.0).ok
    assert invariants.service_during_fault(requests, window, 0.0, detected_at=17.0).detail.startswith("0.5%")
    assert not invariants.lost_host_left_endpoints("w-2", None, window).ok
    assert invariants.lost_host_left_endpoints("w-2", 16.2, window).detail == "6.2 s after the fault"


def test_acknowledged_writes_must_all_be_stored_once() -> None:
    writes = [Write(1.0, "s-1", True, "u1"), Write(1.5, "s-2", True, "u2"), Write(2.0, "s-3", False, "", "503")]
    assert invariants.writes_kept(writes, {"s-1": "u1", "s-2": "u2"}).ok
    assert invariants.writes_kept(writes, {"s-1": "u1", "s-2": "u2", "s-3": "u3"}).ok  # unacked but done: fine
    lost = invariants.writes_kept(writes, {"s-1": "u1"})
    assert (lost.ok, lost.detail) == (False, "2 acknowledged, 1 lost, 0 replaced (lost: s-2)")
    replaced = invariants.writes_kept(writes, {"s-1": "u1", "s-2": "other"})
    assert not replaced.ok and "1 replaced" in replaced.detail
    assert not invariants.writes_kept(writes, {"s-1": "u1", "s-2": "u2", "stray": "x"}).ok
    unread = invariants.writes_kept(writes, None)  # the final list failed: a failure, but nothing called lost
    assert not unread.ok and "lost" not in unread.detail and "list of them failed" in unread.detail


def test_quorum_loss_must_refuse_writes_then_accept_them() -> None:
    window = Window(fault_start=3.0, fault_end=13.0, converged_at=15.0)
    refused = [Write(6.0, "a", False), Write(9.0, "b", False), Write(16.0, "c", True)]
    assert invariants.writes_during_fault(refused, window, refused=True).ok
    accepted = [Write(6.0, "a", True), Write(16.0, "c", True)]
    assert not invariants.writes_during_fault(accepted, window, refused=True).ok
    assert invariants.writes_during_fault(accepted, window, refused=False).ok
    assert not invariants.converged(Window(3.0, 13.0, None), 90).ok
    assert invariants.converged(window, 90).detail == "2.0 s after recovery"
    handover = [Beat("db-0", "a", t / 2) for t in range(20, 41)] + [Beat("db-0", "b", t / 2) for t in range(43, 60)]
    handover += [Beat("db-1", "c", t / 2) for t in range(20, 60)]
    assert invariants.ordinals_once(handover) == Verdict(
        "no StatefulSet ordinal runs twice", True, "2 ordinals, 3 pods, never two at once")
    twin = [*handover, *(Beat("db-1", "d", t / 2) for t in range(30, 50))]  # while c still beats
    assert invariants.ordinals_once(twin).detail == "db-1 ran twice for 9.5 s"  # d: 15.0 to 24.5
    assert not invariants.ordinals_once([]).ok  # nothing written is no proof


def test_catalog_names_its_targets_from_the_lab() -> None:
    spec = LabSpec(control_planes=3, workers=2)
    names = [s.name for s in catalog(spec)]
    assert names[:4] == ["kill-etcd-member", "kill-etcd-leader", "kill-nats-server", "etcd-quorum-loss"]
    assert len(names) == len(set(names))
    quorum = by_name(spec, "etcd-quorum-loss")
    assert quorum is not None and quorum.writes_refused
    assert [f.target for f in quorum.faults] == ["etcd-cp-1", "etcd-cp-2"]
    assert "etcd-quorum-loss" not in [s.name for s in catalog(LabSpec(control_planes=1, workers=2))]
    partition = by_name(spec, "partition-worker")
    assert partition is not None and partition.lost_hosts == (BUSIEST_WORKER,)  # its NodePort is off the network
    resolved = with_host(partition, BUSIEST_WORKER, "w-2")  # the worker with most pods when it starts
    assert resolved.lost_hosts == ("w-2",) and [f.target for f in resolved.faults] == ["w-2"]


def test_error_rate_leaves_out_the_hosts_the_fault_took_away() -> None:
    window = Window(fault_start=0.0, fault_end=10.0, converged_at=12.0)
    requests = [Request(t / 10, False, "w-1") for t in range(100)]  # every request through w-1 fails
    requests += [Request(t / 10, t != 42, "w-2") for t in range(100)]  # one through w-2 fails
    judged = invariants.service_during_fault(requests, window, allowed=0.02, lost_hosts=("w-1",))
    assert (judged.ok, judged.detail) == (True, "1.0% (1/100, allowed 2.0%; w-1: 100 requests not counted)")
    assert not invariants.service_during_fault(requests, window, allowed=0.02).ok


def test_report_marks_the_fault_and_each_verdict() -> None:
    requests = [Request(t / 10, not (50 <= t < 60), "w-1") for t in range(200)]
    window = Window(4.0, 14.0, 15.5)
    verdicts = [invariants.service_during_fault(requests, window, 0.0), invariants.converged(window, 90)]
    result = report.ScenarioResult("kill-x", "kill <x>", requests, window, verdicts, 20.0)
    page = report.render([result], lab="klab", started="now")
    assert "0/1 scenarios passed" in page and "FAIL service error rate during the fault" in page
    assert "kill &lt;x&gt;" in page  # escaped
    assert page.count("<svg") == 1 and "fault 4.0s" in page and "converged 15.5s" in page
    assert report.buckets(requests, 20.0)[5] == (0, 10)


def test_longest_write_gap_and_medians_over_runs() -> None:
    writes = [Write(1.0, "a", True, done=1.0), Write(1.5, "b", True, done=1.5), Write(2.0, "c", True, done=2.0),
              Write(2.5, "d", False, done=6.5), Write(6.0, "e", True, done=6.2)]
    assert abs(invariants.longest_write_gap(writes, 0.8, 7.0) - 4.2) < 1e-9
    assert invariants.longest_write_gap([], 3.0, 13.0) == 10.0
    window = Window(0.0, 10.0, 11.0)
    runs = [report.ScenarioResult("kill-apiserver", "", [], window, [], 20.0, {"converge": 0.1, "write gap": g})
            for g in (1.2, 2.0, 1.5)]
    runs.append(report.ScenarioResult("partition-worker", "", [], window,
                                      [invariants.Verdict("x", False, "")], 30.0, {"detected": 5.2, "replaced": 6.0}))
    assert report.summary(runs) == [["kill-apiserver", "3/3", "0.1", "-", "-", "1.5"],
                                    ["partition-worker", "0/1", "-", "5.2", "6.0", "-"]]
