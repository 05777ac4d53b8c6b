"""Pure pieces of the process runtime: names, addresses, cgroup parsing, records, log format."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from kubelite_nodeagent.runtime import process_supervisor
from kubelite_nodeagent.runtime.base import ContainerSpec, ContainerState
from kubelite_nodeagent.runtime.cgroups import (
    CgroupManager,
    cpu_quota_us,
    parse_oom_kills,
    parse_proc_cgroup,
    sanitize,
)
from kubelite_nodeagent.runtime.netns import (
    NetworkError,
    bridge_name,
    gateway_ip,
    netns_name,
    next_free_ip,
    overlapping,
    veth_names,
)
from kubelite_nodeagent.runtime.process import rootfs_of
from kubelite_nodeagent.runtime.process_logs import parse_record, render, select_records
from kubelite_nodeagent.runtime.process_records import (
    ContainerRecord,
    Exited,
    Started,
    container_info,
    new_container_id,
    split_container_id,
)

IFNAMSIZ = 15  # Linux interface names are at most 15 bytes


def test_interface_names_fit_and_differ_per_node_and_pod() -> None:
    names = {
        bridge_name("node-a"),
        bridge_name("node-b"),
        *veth_names("node-a", "uid-1"),
        *veth_names("node-b", "uid-1"),
        *veth_names("node-a", "uid-2"),
    }
    assert len(names) == 8
    assert all(len(n) <= IFNAMSIZ for n in names)
    assert bridge_name("a-very-long-node-name-" * 5).startswith("kl-")
    assert netns_name("node-a", "uid-1") != netns_name("node-b", "uid-1")


def test_gateway_is_first_address_and_pods_get_the_next_free_ones() -> None:
    assert gateway_ip("10.244.1.0/24") == "10.244.1.1"
    assert next_free_ip("10.244.1.0/24", set()) == "10.244.1.2"
    assert next_free_ip("10.244.1.0/24", {"10.244.1.2", "10.244.1.4"}) == "10.244.1.3"


def test_full_cidr_and_bad_cidr_are_errors() -> None:
    used = {"10.244.1.2"}  # /30 holds .1 (gateway) and .2
    with pytest.raises(NetworkError, match="no free address"):
        next_free_ip("10.244.1.0/30", used)
    with pytest.raises(NetworkError, match="IPv4"):
        next_free_ip("fd00::/64", set())


def test_cpu_quota_from_millis() -> None:
    assert cpu_quota_us(1000) == 100_000
    assert cpu_quota_us(250) == 25_000
    assert cpu_quota_us(1) == 1_000  # the kernel's minimum
    assert cpu_quota_us(2500) == 250_000


def test_parse_proc_cgroup_v1_with_comounted_controllers() -> None:
    text = "9:name=systemd:/\n4:memory:/a/b\n2:cpu,cpuacct:/c\n0::/\n"
    assert parse_proc_cgroup(text) == {
        "name=systemd": "/",
        "memory": "/a/b",
        "cpu": "/c",
        "cpuacct": "/c",
    }


def test_parse_oom_kills() -> None:
    assert parse_oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n") == 3
    assert parse_oom_kills("oom_kill_disable 0\nunder_oom 0\n") == 0


def test_sanitize_keeps_cgroup_names_single_components() -> None:
    assert sanitize("a/b") == "a_b"
    assert sanitize("..") == "_"


def test_container_ids_round_trip() -> None:
    cid = new_container_id("0b1c-uid", "web", 3)
    uid, leaf = split_container_id(cid)
    assert uid == "0b1c-uid"
    assert leaf.startswith("web.3.")
    assert new_container_id("u", "web", 3) != new_container_id("u", "web", 3)
    for bad in ("nodots", "u.web", "../x.web.1.a", "u.a/b.1.x"):
        with pytest.raises(ValueError):
            split_container_id(bad)


def test_rootfs_only_for_absolute_paths() -> None:
    assert rootfs_of("/srv/rootfs/alpine") == "/srv/rootfs/alpine"
    assert rootfs_of("busybox:1.36") == ""


def _record(supervisor_pid: int = 10) -> ContainerRecord:
    spec = ContainerSpec(
        pod_uid="u", namespace="ns", pod_name="p", name="c", attempt=2, image="img", argv=["x"]
    )
    return ContainerRecord(
        id="u.c.2.abc", spec=spec, created_at=1.0, log_path="/l", supervisor_pid=supervisor_pid
    )


def test_state_created_before_start() -> None:
    info = container_info(_record(supervisor_pid=0), None, None, False, False)
    assert info.state == ContainerState.CREATED
    assert (info.name, info.attempt, info.pod_uid) == ("c", 2, "u")


def test_state_running_while_init_or_supervisor_lives() -> None:
    started = Started(pid=5, pid_start=7, started_at=2.0)
    assert container_info(_record(), started, None, True, True).state == ContainerState.RUNNING
    # init just died, the supervisor is about to write exit.json: still running
    assert container_info(_record(), started, None, False, True).state == ContainerState.RUNNING


def test_state_exited_reasons() -> None:
    started = Started(pid=5, pid_start=7, started_at=2.0)
    ok = container_info(_record(), started, Exited(exit_code=0, finished_at=3.0), False, False)
    assert (ok.state, ok.exit_code, ok.reason, ok.finished_at) == (
        ContainerState.EXITED,
        0,
        "Completed",
        3.0,
    )
    err = container_info(_record(), started, Exited(exit_code=2), False, False)
    assert (err.exit_code, err.reason) == (2, "Error")
    oom = container_info(_record(), started, Exited(exit_code=137, oom_killed=True), False, False)
    assert (oom.exit_code, oom.reason) == (137, "OOMKilled")
    start_err = Started(pid=5, error="exec: nope")
    failed = container_info(
        _record(), start_err, Exited(exit_code=128, error="exec: nope"), False, False
    )
    assert (failed.exit_code, failed.reason, failed.message, failed.started_at) == (
        128,
        "StartError",
        "exec: nope",
        0.0,
    )


def test_state_unknown_when_supervisor_vanished_without_exit_record() -> None:
    started = Started(pid=5, pid_start=7, started_at=2.0)
    info = container_info(_record(), started, None, False, False)
    assert (info.state, info.exit_code, info.reason) == (
        ContainerState.EXITED,
        137,
        "ContainerStatusUnknown",
    )
    never_started = container_info(_record(), None, None, False, False)
    assert never_started.state == ContainerState.EXITED


def test_log_writer_splits_lines_and_marks_partials() -> None:
    out = io.BytesIO()
    writer = process_supervisor.LogWriter(out, "stdout")
    writer.feed(b"one\ntw")
    writer.feed(b"o\n" + b"x" * (process_supervisor.PARTIAL_LINE_LIMIT + 3))
    writer.close()
    records = [parse_record(line) for line in out.getvalue().splitlines()]
    assert [r.text[:5] for r in records if r] == [b"one", b"two", b"xxxxx", b"xxx"]
    assert [r.partial for r in records if r] == [False, False, True, False]
    assert all(r and r.stream == "stdout" and r.timestamp.endswith("Z") for r in records)
    joined = b"".join(render(r, False) for r in records if r)
    assert joined == b"one\ntwo\n" + b"x" * (process_supervisor.PARTIAL_LINE_LIMIT + 3) + b"\n"


def test_render_with_timestamps() -> None:
    record = parse_record(b"2026-01-02T03:04:05.000000001Z stderr F boom")
    assert record is not None
    assert render(record, True) == b"2026-01-02T03:04:05.000000001Z boom\n"
    assert render(record, False) == b"boom\n"
    assert parse_record(b"garbage") is None


def test_select_records_tail_counts_full_lines_and_since_filters() -> None:
    lines = [
        b"2026-01-01T00:00:01.0Z stdout F a",
        b"2026-01-01T00:00:02.0Z stdout P b1",
        b"2026-01-01T00:00:03.0Z stdout F b2",
        b"2026-01-01T00:00:04.0Z stdout F c",
    ]
    records = [r for r in map(parse_record, lines) if r]
    assert [r.text for r in select_records(records, 2, None)] == [b"b1", b"b2", b"c"]
    assert [r.text for r in select_records(records, 1, None)] == [b"c"]
    assert select_records(records, 0, None) == []
    assert len(select_records(records, None, None)) == 4
    since = 1767225600 + 3  # 2026-01-01T00:00:03Z
    assert [r.text for r in select_records(records, None, since)] == [b"b2", b"c"]


def test_cgroup_manager_degrades_when_hierarchies_are_missing(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "cgroup.procs").write_text("")
    manager = CgroupManager("node-1", root=tmp_path)
    assert set(manager.bases) == {"memory"}
    assert set(manager.missing) == {"cpu", "cpuacct", "pids"}
    assert "no cgroup v1 cpu hierarchy" in manager.describe_missing()
    cgroup = manager.for_container("uid-1", "web.0.abc")
    assert cgroup.paths["memory"].parts[-4:] == ("kubelite", "node-1", "uid-1", "web.0.abc")
    assert CgroupManager("node-1", root=tmp_path / "nothing").enabled is False


def test_overlapping_networks_on_other_devices() -> None:
    addresses = [("eth0", "192.0.2.2/24"), ("kl-a", "10.244.1.1/24"), ("kl-b", "10.244.2.1/24")]
    assert overlapping("10.244.1.0/24", addresses, own_dev="kl-a") == []
    assert overlapping("10.244.1.0/24", addresses, own_dev="kl-x") == ["10.244.1.1/24 on kl-a"]
    assert overlapping("10.244.0.0/16", addresses, own_dev="") == [
        "10.244.1.1/24 on kl-a",
        "10.244.2.1/24 on kl-b",
    ]
