"""The `kubelite` CLI against a real local cluster (`kubelite up` once for the module)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

KUBELITE = [sys.executable, "-m", "kubelite_cli"]
NS = "cli-test"

CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {app: web}
data:
  color: blue
"""

APP = """\
apiVersion: v1
kind: Namespace
metadata:
  name: cli-test
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: cli-test
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.25
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: cli-test
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 8080
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    data_dir = tmp_path_factory.mktemp("cli-cluster")
    up = subprocess.run(
        # only the apiserver: these tests are about the CLI, not the other services
        [*KUBELITE, "up", "--data-dir", str(data_dir), "--only", "apiserver", "--random-ports"],
        capture_output=True, text=True, timeout=120,
    )
    try:
        assert up.returncode == 0, f"kubelite up failed:\n{up.stdout}\n{up.stderr}"
        yield data_dir / "kubeconfig"
    finally:
        subprocess.run([*KUBELITE, "down", "--data-dir", str(data_dir)],
                       capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def kl(cluster: Path):
    env = {**os.environ, "KUBECONFIG": str(cluster)}

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*KUBELITE, *args], input=stdin, capture_output=True, text=True,
                              timeout=60, env=env)

    return run


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return result.stdout


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, f"expected exit 1, got {result.returncode}: {result.stdout}"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line, got: {result.stderr!r}"
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def app(kl, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("manifests") / "app.yaml"
    path.write_text(APP)
    out = ok(kl("apply", "-f", str(path)))
    assert out.splitlines() == [
        "namespace/cli-test created",
        "deployment.apps/web created",
        "service/web created",
    ]
    return path


def test_version(kl) -> None:
    out = ok(kl("version"))
    assert out.startswith("Client Version: v")
    assert "Server Version: v" in out


def test_apply_again_is_unchanged_and_a_change_is_configured(kl, app: Path) -> None:
    assert ok(kl("apply", "-f", str(app))).splitlines() == [
        "namespace/cli-test unchanged",
        "deployment.apps/web unchanged",
        "service/web unchanged",
    ]
    changed = app.with_name("app-3.yaml")
    changed.write_text(APP.replace("replicas: 2", "replicas: 3"))
    out = ok(kl("apply", "-f", str(changed)))
    assert "deployment.apps/web configured" in out.splitlines()
    assert "service/web unchanged" in out.splitlines()
    dep = json.loads(ok(kl("get", "deploy", "web", "-n", NS, "-o", "json")))
    assert dep["spec"]["replicas"] == 3
    # the service kept its allocated clusterIP and nodePort through the apply
    svc = json.loads(ok(kl("get", "svc", "web", "-n", NS, "-o", "json")))
    assert svc["spec"]["clusterIP"] and svc["spec"]["ports"][0]["nodePort"]


def test_apply_from_stdin_uses_the_namespace_flag(kl, app: Path) -> None:
    assert ok(kl("apply", "-n", NS, "-f", "-", stdin=CONFIGMAP)) == "configmap/settings created\n"
    out = ok(kl("get", "cm", "-n", NS))
    header, *rows = out.splitlines()
    assert header.split() == ["NAME", "DATA", "AGE"]
    assert any(r.split()[:2] == ["settings", "1"] for r in rows)


def test_apply_namespace_mismatch_is_an_error(kl, app: Path) -> None:
    line = one_error_line(kl("apply", "-n", "default", "-f", str(app)))
    assert 'does not match the namespace "default"' in line


def test_get_tables(kl, app: Path) -> None:
    header, *rows = ok(kl("get", "deployments", "-n", NS)).splitlines()
    assert header.split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert rows[0].split()[0] == "web"
    header, *rows = ok(kl("get", "svc", "-n", NS, "-o", "wide")).splitlines()
    assert header.split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE",
                              "SELECTOR"]
    cols = rows[0].split()
    assert cols[0] == "web" and cols[1] == "NodePort" and cols[4].startswith("80:")
    assert cols[-1] == "app=web"
    out = ok(kl("get", "ns", "--show-labels"))
    assert out.splitlines()[0].split()[-1] == "LABELS"
    assert any(line.startswith(NS + " ") for line in out.splitlines())


def test_get_all_namespaces_adds_namespace_column(kl, app: Path) -> None:
    header, *rows = ok(kl("get", "deploy", "-A")).splitlines()
    assert header.split()[:2] == ["NAMESPACE", "NAME"]
    assert any(r.split()[:2] == [NS, "web"] for r in rows)


def test_get_all_prefixes_names_with_kinds(kl, app: Path) -> None:
    out = ok(kl("get", "all", "-n", NS))
    assert "deployment.apps/web" in out
    assert "service/web" in out


def test_get_label_selector_filters(kl, app: Path) -> None:
    assert ok(kl("get", "deploy", "-n", NS, "-l", "app=web", "-o", "name")) == "deployment.apps/web\n"
    empty = kl("get", "deploy", "-n", NS, "-l", "app=nothing")
    assert empty.returncode == 0 and empty.stdout == ""
    assert empty.stderr.strip() == f"No resources found in {NS} namespace."


def test_get_output_formats(kl, app: Path) -> None:
    one = json.loads(ok(kl("get", "deploy", "web", "-n", NS, "-o", "json")))
    assert one["kind"] == "Deployment" and one["metadata"]["name"] == "web"
    many = yaml.safe_load(ok(kl("get", "deploy", "-n", NS, "-o", "yaml")))
    assert many["kind"] == "List"
    assert [i["kind"] for i in many["items"]] == ["Deployment"]
    assert ok(kl("get", "svc", "-n", NS, "-o", "name")) == "service/web\n"
    everything = json.loads(ok(kl("get", "all", "-n", NS, "-o", "json")))
    assert everything["kind"] == "List"
    assert {"Deployment", "Service"} <= {i["kind"] for i in everything["items"]}


def test_describe_shows_sections_and_events(kl, app: Path) -> None:
    out = ok(kl("describe", "deploy", "web", "-n", NS))
    assert out.splitlines()[0].split() == ["Name:", "web"]
    assert f"Namespace:    {NS}" in out
    assert "Replicas:" in out
    assert "Events:" in out
    out = ok(kl("describe", "svc", "web", "-n", NS))
    assert "Type:         NodePort" in out


def test_errors_are_one_line(kl, app: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: 1\n")
    line = one_error_line(kl("apply", "-f", str(broken)))
    assert line.startswith("error: error parsing") and "line 5" in line

    assert one_error_line(kl("get", "widgets")) == (
        'error: the server doesn\'t have a resource type "widgets"')
    assert one_error_line(kl("get", "pod", "nope", "-n", NS)) == (
        'Error from server (NotFound): pods "nope" not found')
    assert one_error_line(kl("describe", "deploy", "nope", "-n", NS)) == (
        'Error from server (NotFound): deployments.apps "nope" not found')
    line = one_error_line(kl("get", "pods", "-o", "bogus"))
    assert line.startswith("error: argument -o/--output")
    line = one_error_line(kl("apply", "-f", str(tmp_path / "missing.yaml")))
    assert "does not exist" in line


def test_unknown_kind_in_manifest(kl, app: Path) -> None:
    manifest = "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"
    line = one_error_line(kl("apply", "-f", "-", stdin=manifest))
    assert 'no matches for kind "Widget" in version "example.com/v1"' in line


def test_delete_by_name_and_by_file(kl, app: Path) -> None:
    ok(kl("apply", "-n", NS, "-f", "-", stdin=CONFIGMAP.replace("settings", "doomed")))
    assert ok(kl("delete", "cm", "doomed", "-n", NS)) == 'configmap "doomed" deleted\n'
    assert one_error_line(kl("get", "cm", "doomed", "-n", NS)) == (
        'Error from server (NotFound): configmaps "doomed" not found')
    assert one_error_line(kl("delete", "cm", "doomed", "-n", NS)) == (
        'Error from server (NotFound): configmaps "doomed" not found')
    assert ok(kl("delete", "cm", "doomed", "-n", NS, "--ignore-not-found")) == ""

    svc_only = "---\n".join(d for d in APP.split("---\n") if "kind: Service" in d)
    out = ok(kl("delete", "--grace-period", "0", "-f", "-", stdin=svc_only))
    assert out == 'service "web" deleted\n'
    assert kl("get", "svc", "web", "-n", NS).returncode == 1


def test_delete_cascade_orphan_reaches_the_server(kl, app: Path) -> None:
    # Orphan propagation is carried out by the garbage collector: until it runs,
    # the object waits with deletionTimestamp and the "orphan" finalizer.
    ok(kl("apply", "-n", NS, "-f", "-", stdin=CONFIGMAP.replace("settings", "orphaned")))
    assert ok(kl("delete", "cm", "orphaned", "-n", NS, "--cascade", "orphan")) == (
        'configmap "orphaned" deleted\n')
    got = kl("get", "cm", "orphaned", "-n", NS, "-o", "json")
    if got.returncode == 0:
        meta = json.loads(got.stdout)["metadata"]
        assert meta.get("deletionTimestamp") and "orphan" in meta.get("finalizers", [])
    else:  # a garbage collector already finished the deletion
        assert "NotFound" in got.stderr


def _start(kl_env_args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([*KUBELITE, *kl_env_args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_stderr_line(proc: subprocess.Popen[str], prefix: str, timeout: float) -> None:
    """Block until the child prints `prefix` on stderr (it is subscribed), with a deadline."""
    import selectors

    sel = selectors.DefaultSelector()
    assert proc.stderr is not None
    sel.register(proc.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sel.select(timeout=max(0.0, deadline - time.monotonic())):
            line = proc.stderr.readline()
            if line.startswith(prefix):
                return
            if not line:
                break
    proc.kill()
    raise AssertionError(f"no {prefix!r} on stderr within {timeout}s: {proc.communicate()}")


def test_events_follow_prints_changes_from_the_bus(kl, cluster: Path, app: Path) -> None:
    env = {**os.environ, "KUBECONFIG": str(cluster)}
    proc = _start(["events", "-f", "--timeout", "6"], env)
    _wait_for_stderr_line(proc, "# following", timeout=15)
    ok(kl("apply", "-n", NS, "-f", "-", stdin=CONFIGMAP.replace("settings", "on-the-bus")))
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    lines = [line for line in out.splitlines() if f"configmaps {NS}/on-the-bus" in line]
    assert lines and "ADDED" in lines[0], out
    assert ".api." not in out  # API RPC traffic is not shown


def test_get_watch_prints_new_rows(kl, cluster: Path, app: Path) -> None:
    ok(kl("apply", "-n", NS, "-f", "-", stdin=CONFIGMAP.replace("settings", "watch-seed")))
    env = {**os.environ, "KUBECONFIG": str(cluster)}
    proc = _start(["get", "cm", "-n", NS, "-w", "--request-timeout", "4"], env)
    assert proc.stdout is not None
    # The header comes with the list; the watch starts from the list's
    # resourceVersion, so anything created after it must arrive as a watch row.
    header = proc.stdout.readline()  # bounded by --request-timeout and the list itself
    assert header.split()[:2] == ["NAME", "DATA"], header
    ok(kl("apply", "-n", NS, "-f", "-", stdin=CONFIGMAP.replace("settings", "watched")))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert any(line.split()[:1] == ["watched"] for line in out.splitlines()), out


def _tls(cluster: Path) -> object:
    from kubelite.client.kubeconfig import load_kubeconfig

    return load_kubeconfig(str(cluster)).ssl_context()


def _server(cluster: Path) -> str:
    from kubelite.client.kubeconfig import load_kubeconfig

    return load_kubeconfig(str(cluster)).server


def test_api_client_sync_round_trip(cluster: Path, app: Path) -> None:
    from kubelite.client.http import APIClient
    from kubelite.errors import APIError

    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "via-client", "labels": {"src": "client"}}, "data": {"k": "v"}}
    with APIClient(_server(cluster), tls=_tls(cluster)) as api:
        created = api.create("configmaps", NS, body)
        assert created["metadata"]["resourceVersion"]
        with pytest.raises(APIError) as exc:
            api.create("configmaps", NS, body)
        assert (exc.value.code, exc.value.reason) == (409, "AlreadyExists")
        got = api.get("cm", NS, "via-client")
        got["data"]["k"] = "w"
        updated = api.update("configmaps", NS, "via-client", got)
        assert updated["data"] == {"k": "w"}
        with pytest.raises(APIError) as exc:  # stale resourceVersion: a conflict, not a lost update
            api.update("configmaps", NS, "via-client", got)
        assert exc.value.code == 409
        patched = api.patch("configmaps", NS, "via-client", {"data": {"p": "1"}})
        assert patched["data"] == {"k": "w", "p": "1"}
        listed = api.list("configmaps", NS, label_selector="src=client")
        assert [i["metadata"]["name"] for i in listed["items"]] == ["via-client"]
        api.delete("configmaps", NS, "via-client")
        with pytest.raises(APIError) as exc:
            api.get("configmaps", NS, "via-client")
        assert exc.value.code == 404


async def test_api_client_async_watch_sees_a_create(cluster: Path, app: Path) -> None:
    import asyncio

    from kubelite.client.http import AsyncAPIClient

    async with AsyncAPIClient(_server(cluster), tls=_tls(cluster)) as api:
        rv = (await api.list("configmaps", NS))["metadata"]["resourceVersion"]

        async def first_added() -> dict:
            async for etype, obj in api.watch("configmaps", NS, resource_version=rv):
                if etype == "ADDED" and obj["metadata"]["name"] == "async-watched":
                    return obj
            raise AssertionError("watch ended without the ADDED event")

        waiter = asyncio.create_task(first_added())
        await api.create("configmaps", NS, {"metadata": {"name": "async-watched"}})
        obj = await asyncio.wait_for(waiter, timeout=15)
        assert int(obj["metadata"]["resourceVersion"]) > int(rv)


def _get(kl, *args: str) -> dict:
    return json.loads(ok(kl("get", *args, "-n", NS, "-o", "json")))


def test_label_and_annotate(kl, app: Path) -> None:
    assert ok(kl("label", "-n", NS, "deploy/web", "tier=front", "team=a")) == "deployment.apps/web labeled\n"
    assert _get(kl, "deploy", "web")["metadata"]["labels"] == {"app": "web", "tier": "front", "team": "a"}
    refused = one_error_line(kl("label", "-n", NS, "deployment", "web", "tier=back"))
    assert refused == "error: 'tier' already has a value (front), and --overwrite is false"
    ok(kl("label", "-n", NS, "deployment", "web", "tier=back", "team-", "--overwrite"))
    assert _get(kl, "deploy", "web")["metadata"]["labels"] == {"app": "web", "tier": "back"}
    bad = one_error_line(kl("label", "-n", NS, "deploy/web", "bad key=x"))
    assert bad.startswith("Error from server (Invalid)") and "metadata.labels" in bad, bad
    assert _get(kl, "deploy", "web")["metadata"]["labels"] == {"app": "web", "tier": "back"}
    ok(kl("apply", "-n", NS, "-f", "-", stdin=CONFIGMAP.replace("name: settings", "name: notes")))
    ok(kl("annotate", "-n", NS, "cm/notes", "owner=ops"))
    assert _get(kl, "cm", "notes")["metadata"]["annotations"]["owner"] == "ops"
    assert ok(kl("annotate", "-n", NS, "cm", "-l", "app=nosuch", "x=y")) == ""  # nothing matched
    ok(kl("annotate", "-n", NS, "cm/notes", "owner-"))
    assert "owner" not in (_get(kl, "cm", "notes")["metadata"].get("annotations") or {})
    assert one_error_line(kl("label", "-n", NS, "deploy/web")) == "error: at least one label update is required"


def test_patch_each_type(kl, app: Path) -> None:
    out = ok(kl("patch", "-n", NS, "deploy/web", "-p", '{"spec": {"replicas": 4}}'))
    assert out == "deployment.apps/web patched\n"
    assert _get(kl, "deploy", "web")["spec"]["replicas"] == 4
    ok(kl("patch", "-n", NS, "deploy/web", "--type", "merge", "-p", "spec: {revisionHistoryLimit: 3}"))
    ok(kl("patch", "-n", NS, "deploy/web", "--type", "json", "-p",
          '[{"op": "replace", "path": "/spec/replicas", "value": 2}]'))
    dep = _get(kl, "deploy", "web")
    assert (dep["spec"]["replicas"], dep["spec"]["revisionHistoryLimit"]) == (2, 3)
    same = ok(kl("patch", "-n", NS, "deploy/web", "-p", '{"spec": {"replicas": 2}}'))
    assert same == "deployment.apps/web patched (no change)\n"
    bad = one_error_line(kl("patch", "-n", NS, "deploy/web", "-p", '{"spec": {"replicas": -1}}'))
    assert bad.startswith("Error from server (Invalid)") and "spec.replicas" in bad, bad
    assert one_error_line(kl("patch", "-n", NS, "deploy/web", "--type", "json", "-p", "{}")).startswith(
        "error: a JSON patch (--type json) must be a list")
    assert _get(kl, "deploy", "web")["spec"]["replicas"] == 2


def test_set_env(kl, app: Path) -> None:
    assert ok(kl("set", "env", "-n", NS, "deploy/web", "MODE=fast", "LEVEL=3")) == "deployment.apps/web env updated\n"
    env = _get(kl, "deploy", "web")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "MODE", "value": "fast"}, {"name": "LEVEL", "value": "3"}]
    ok(kl("set", "env", "-n", NS, "deploy/web", "MODE=slow", "LEVEL-"))
    env = _get(kl, "deploy", "web")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "MODE", "value": "slow"}]
    assert ok(kl("set", "env", "-n", NS, "deploy/web", "--list")) == "# deployments/web, container web\nMODE=slow\n"
    assert one_error_line(kl("set", "env", "-n", NS, "deploy/web", "-c", "nosuch", "A=1")) == (
        'error: unable to find container named "nosuch"')


def test_delete_type_slash_name(kl, app: Path) -> None:
    cm = CONFIGMAP.replace("name: settings", "name: doomed")
    ok(kl("apply", "-n", NS, "-f", "-", stdin=cm))
    assert ok(kl("delete", "-n", NS, "configmap/doomed")) == 'configmap "doomed" deleted\n'
    missing = one_error_line(kl("delete", "-n", NS, "cm/doomed"))
    assert missing == 'Error from server (NotFound): configmaps "doomed" not found'
