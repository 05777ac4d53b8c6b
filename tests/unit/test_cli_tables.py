"""kubectl-like tables: AGE formatting, column alignment and per-kind columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubelite.printers import (
    age,
    format_endpoints,
    human_duration,
    node_roles,
    pod_status,
    render_table,
    service_ports,
    table_for,
)

NOW = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)


def ts(delta: timedelta) -> str:
    return (NOW - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),  # up to 1s of clock skew counts as now
        (0, "0s"),
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (180, "3m"),
        (185, "3m5s"),
        (599, "9m59s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 25 * 60, "3h25m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (3 * 86400 + 5 * 3600, "3d5h"),
        (8 * 86400, "8d"),
        (400 * 86400, "400d"),
        (2 * 365 * 86400, "2y"),
        (3 * 365 * 86400 + 10 * 86400, "3y10d"),
        (9 * 365 * 86400, "9y"),
    ],
)
def test_human_duration_matches_kubectl(seconds: int, expected: str) -> None:
    assert human_duration(seconds) == expected


def test_age_from_creation_timestamp() -> None:
    assert age(ts(timedelta(seconds=5)), NOW) == "5s"
    assert age(ts(timedelta(minutes=3)), NOW) == "3m"
    assert age(ts(timedelta(days=2)), NOW) == "2d"
    assert age(None, NOW) == "<unknown>"
    assert age("not a time", NOW) == "<unknown>"


def test_render_table_pads_like_tabwriter() -> None:
    text = render_table(["NAME", "READY", "AGE"], [["web-1", "1/1", "5s"], ["a-much-longer-name", "0/1", "3m"]])
    lines = text.splitlines()
    assert lines[0] == "NAME                 READY     AGE"
    assert lines[1] == "web-1                1/1       5s"
    assert lines[2] == "a-much-longer-name   0/1       3m"


def test_render_table_without_header_keeps_widths() -> None:
    text = render_table(["NAME", "AGE"], [["x", "1s"]], with_header=False)
    assert text == "x         1s"


def _pod(**status: object) -> dict:
    return {
        "metadata": {"name": "web-1", "namespace": "default", "creationTimestamp": ts(timedelta(seconds=30)),
                     "labels": {"app": "web", "tier": "fe"}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "a"}, {"name": "b"}]},
        "status": status,
    }


def test_pod_status_counts_ready_and_restarts() -> None:
    pod = _pod(phase="Running", podIP="10.0.0.7", containerStatuses=[
        {"name": "a", "ready": True, "restartCount": 2, "state": {"running": {}}},
        {"name": "b", "ready": False, "restartCount": 1,
         "state": {"waiting": {"reason": "CrashLoopBackOff"}}},
    ])
    assert pod_status(pod) == ("CrashLoopBackOff", 1, 2, 3)


def test_pod_status_terminated_and_terminating() -> None:
    pod = _pod(phase="Running", containerStatuses=[
        {"name": "a", "state": {"terminated": {"exitCode": 3}}},
    ])
    assert pod_status(pod)[0] == "ExitCode:3"
    pod["metadata"]["deletionTimestamp"] = ts(timedelta(0))
    assert pod_status(pod)[0] == "Terminating"
    assert pod_status({"spec": {}, "status": {}})[0] == "Pending"


def test_pod_table_wide_all_namespaces_and_labels() -> None:
    pod = _pod(phase="Running", podIP="10.0.0.7", containerStatuses=[
        {"name": "a", "ready": True, "state": {"running": {}}},
        {"name": "b", "ready": True, "state": {"running": {}}},
    ])
    header, rows = table_for("pods", [pod], NOW, wide=True, all_namespaces=True, show_labels=True)
    assert header == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "LABELS"]
    assert rows == [["default", "web-1", "2/2", "Running", "0", "30s", "10.0.0.7", "node-1",
                     "app=web,tier=fe"]]


def test_pod_table_missing_ip_and_node_show_none() -> None:
    pod = _pod(phase="Pending")
    pod["spec"].pop("nodeName")
    _, rows = table_for("pods", [pod], NOW, wide=True)
    assert rows[0][-2:] == ["<none>", "<none>"]


def test_deployment_and_replicaset_columns() -> None:
    dep = {"metadata": {"name": "web", "creationTimestamp": ts(timedelta(minutes=3))},
           "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}},
           "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    header, rows = table_for("deployments", [dep], NOW, wide=True)
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES",
                      "SELECTOR"]
    assert rows == [["web", "2/3", "3", "2", "3m", "c", "nginx:1", "app=web"]]
    rs = {"metadata": {"name": "web-abc", "creationTimestamp": ts(timedelta(days=2))},
          "spec": {"replicas": 3}, "status": {"replicas": 3, "readyReplicas": 1}}
    header, rows = table_for("replicasets", [rs], NOW)
    assert header == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert rows == [["web-abc", "3", "3", "1", "2d"]]


def test_service_columns() -> None:
    svc = {"metadata": {"name": "web", "creationTimestamp": ts(timedelta(seconds=5))},
           "spec": {"type": "NodePort", "clusterIP": "10.96.0.10", "selector": {"app": "web"},
                    "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                              {"port": 53, "protocol": "UDP"}]}}
    header, rows = table_for("services", [svc], NOW, wide=True)
    assert header == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    assert rows == [["web", "NodePort", "10.96.0.10", "<none>", "80:30080/TCP,53/UDP", "5s", "app=web"]]
    lb = {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": []}}
    _, rows = table_for("services", [lb], NOW)
    assert rows[0][1:5] == ["LoadBalancer", "<none>", "<pending>", "<none>"]
    assert service_ports({}) == "<none>"


def test_node_columns() -> None:
    node = {"metadata": {"name": "node-1", "creationTimestamp": ts(timedelta(hours=3)),
                         "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "nodeInfo": {"kubeletVersion": "v1.31.0-kubelite"}}}
    header, rows = table_for("nodes", [node], NOW)
    assert header == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert rows == [["node-1", "Ready,SchedulingDisabled", "control-plane", "3h", "v1.31.0-kubelite"]]
    assert node_roles({}) == "<none>"
    node["status"]["conditions"][0]["status"] = "Unknown"
    assert table_for("nodes", [node], NOW)[1][0][1] == "Unknown,SchedulingDisabled"


def test_configmap_secret_namespace_lease_columns() -> None:
    meta = {"name": "x", "creationTimestamp": ts(timedelta(seconds=1))}
    assert table_for("configmaps", [{"metadata": meta, "data": {"a": "1", "b": "2"}}], NOW) == (
        ["NAME", "DATA", "AGE"], [["x", "2", "1s"]])
    assert table_for("secrets", [{"metadata": meta, "type": "Opaque", "data": {"k": "dg=="}}], NOW) == (
        ["NAME", "TYPE", "DATA", "AGE"], [["x", "Opaque", "1", "1s"]])
    assert table_for("namespaces", [{"metadata": meta, "status": {"phase": "Terminating"}}], NOW) == (
        ["NAME", "STATUS", "AGE"], [["x", "Terminating", "1s"]])
    assert table_for("leases", [{"metadata": meta, "spec": {"holderIdentity": "sched-1"}}], NOW) == (
        ["NAME", "HOLDER", "AGE"], [["x", "sched-1", "1s"]])


def test_endpoints_column_truncates_after_three() -> None:
    ep = {"subsets": [{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(1, 6)],
                       "ports": [{"port": 8080}]}]}
    assert format_endpoints(ep) == "10.0.0.1:8080,10.0.0.2:8080,10.0.0.3:8080 + 2 more..."
    assert format_endpoints({}) == "<none>"


def test_events_table_has_no_name_column() -> None:
    event = {"metadata": {"name": "web.1", "namespace": "default"}, "type": "Normal",
             "reason": "Scheduled", "lastTimestamp": ts(timedelta(seconds=7)),
             "involvedObject": {"kind": "Pod", "name": "web"}, "message": "assigned to node-1"}
    header, rows = table_for("events", [event], NOW, all_namespaces=True)
    assert header == ["NAMESPACE", "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    assert rows == [["default", "7s", "Normal", "Scheduled", "pod/web", "assigned to node-1"]]


def test_unknown_kind_gets_name_and_age_and_prefix() -> None:
    header, rows = table_for("widgets", [{"metadata": {"name": "w"}}], NOW, name_prefix="widget/")
    assert header == ["NAME", "AGE"]
    assert rows == [["widget/w", "<unknown>"]]


def test_describe_and_tables_of_the_workload_kinds() -> None:
    from datetime import UTC, datetime

    from kubelite.printers import table_for
    from kubelite_cli.describe_fmt import describe_text

    now = datetime(2026, 1, 1, tzinfo=UTC)
    ds = {"kind": "DaemonSet", "metadata": {"name": "agent"}, "spec": {"template": {"spec": {
        "nodeSelector": {"disk": "ssd"}}}}, "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                                                       "numberReady": 2, "updatedNumberScheduled": 3,
                                                       "numberAvailable": 2}}
    header, rows = table_for("daemonsets", [ds], now)
    assert header == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"]
    assert rows[0][:7] == ["agent", "3", "3", "2", "3", "2", "disk=ssd"]
    assert "Number of Nodes Scheduled with Up-to-date Pods: 3" in describe_text(ds, [], now)
    sc = {"metadata": {"name": "local-path", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
          "provisioner": "kubelite.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"}
    assert table_for("storageclasses", [sc], now)[1][0][:4] == ["local-path (default)", "kubelite.io/local-path",
                                                               "Delete", "WaitForFirstConsumer"]
    pvc = {"kind": "PersistentVolumeClaim", "metadata": {"name": "www-web-0"},
           "spec": {"volumeName": "pvc-1", "storageClassName": "local-path"},
           "status": {"phase": "Bound", "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}}
    assert table_for("persistentvolumeclaims", [pvc], now)[1][0][:6] == ["www-web-0", "Bound", "pvc-1", "1Gi", "RWO",
                                                                        "local-path"]
    assert "Access Modes: RWO" in describe_text(pvc, [], now)
    pdb = {"metadata": {"name": "b"}, "spec": {"maxUnavailable": "25%"}, "status": {"disruptionsAllowed": 2}}
    assert table_for("poddisruptionbudgets", [pdb], now)[1][0][:4] == ["b", "N/A", "25%", "2"]
