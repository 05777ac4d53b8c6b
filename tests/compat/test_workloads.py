"""Workloads: create/run/expose, scale, rollout, set image, wait, delete (cascade, grace), logs."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.compat.conftest import Cluster, wait_for


def rs_of(cluster: Cluster, ns: str, app: str) -> list[dict]:
    return cluster.json("-n", ns, "get", "replicasets", "-l", f"app={app}")["items"]


@pytest.mark.compat("kubectl create configmap --from-literal|--from-file")
@pytest.mark.compat("kubectl create secret generic --from-literal|--from-file")
def test_create_configmap_and_secret(cluster, kubectl, ns, tmp_path) -> None:
    f = tmp_path / "app.properties"
    f.write_text("mode=fast\n")
    d = tmp_path / "conf.d"
    d.mkdir()
    (d / "a.conf").write_text("A")
    (d / "b.conf").write_text("B")
    out = kubectl("-n", ns, "create", "configmap", "cfg", "--from-literal=color=blue",
                  f"--from-file={f}", f"--from-file=renamed.txt={f}").stdout
    assert out.strip() == "configmap/cfg created"
    cm = cluster.json("-n", ns, "get", "configmap", "cfg")
    assert cm["data"] == {"color": "blue", "app.properties": "mode=fast\n", "renamed.txt": "mode=fast\n"}
    kubectl("-n", ns, "create", "configmap", "dir", f"--from-file={d}")
    assert cluster.json("-n", ns, "get", "configmap", "dir")["data"] == {"a.conf": "A", "b.conf": "B"}
    out = kubectl("-n", ns, "create", "secret", "generic", "creds", "--from-literal=user=admin",
                  f"--from-file=props={f}").stdout
    assert out.strip() == "secret/creds created"
    s = cluster.json("-n", ns, "get", "secret", "creds")
    assert s["type"] == "Opaque"
    assert s["data"] == {"user": "YWRtaW4=", "props": "bW9kZT1mYXN0Cg=="}
    decoded = kubectl("-n", ns, "get", "secret", "creds", "-o", "jsonpath={.data.user}").stdout
    assert decoded == "YWRtaW4="
    dry = kubectl("-n", ns, "create", "configmap", "x", "--from-literal=a=b", "--dry-run=server").stdout
    assert "(server dry run)" in dry
    assert kubectl("-n", ns, "get", "configmap", "x", check=False).returncode != 0


@pytest.mark.compat("kubectl create deployment")
@pytest.mark.compat("kubectl expose")
def test_create_deployment_and_expose(cluster, kubectl, ns) -> None:
    out = kubectl("-n", ns, "create", "deployment", "web", "--image=nginx:1.25", "--replicas=2",
                  "--port=80").stdout
    assert out.strip() == "deployment.apps/web created"
    d = cluster.json("-n", ns, "get", "deployment", "web")
    assert d["spec"]["replicas"] == 2 and d["spec"]["selector"]["matchLabels"] == {"app": "web"}
    c = d["spec"]["template"]["spec"]["containers"][0]
    assert (c["name"], c["image"], c["ports"]) == ("nginx", "nginx:1.25", [{"containerPort": 80, "protocol": "TCP"}])
    assert d["spec"]["strategy"]["type"] == "RollingUpdate"  # defaulted by the server
    kubectl("-n", ns, "create", "deployment", "zero", "--image=busybox", "--replicas=0")
    assert cluster.json("-n", ns, "get", "deployment", "zero")["spec"]["replicas"] == 0
    out = kubectl("-n", ns, "expose", "deployment", "web", "--port=8080", "--target-port=80").stdout
    assert out.strip() == "service/web exposed"
    svc = cluster.json("-n", ns, "get", "service", "web")
    assert svc["spec"]["selector"] == {"app": "web"} and svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["ports"] == [{"port": 8080, "protocol": "TCP", "targetPort": 80}]
    assert svc["spec"]["clusterIP"].count(".") == 3
    kubectl("-n", ns, "expose", "deployment", "web", "--name=web-np", "--type=NodePort", "--port=80")
    np = cluster.json("-n", ns, "get", "service", "web-np")["spec"]["ports"][0]
    assert 30000 <= np["nodePort"] <= 32767


@pytest.mark.compat("kubectl run")
@pytest.mark.compat("kubectl wait --for=condition=Ready")
@pytest.mark.compat("kubectl wait --for=delete")
@pytest.mark.compat("kubectl delete --grace-period")
def test_run_wait_delete_pod(cluster, kubectl, ns) -> None:
    out = kubectl("-n", ns, "run", "box", "--image=busybox", "--labels=app=box", "--port=8080",
                  "--env=MODE=fast", "--", "sleep", "3600").stdout
    assert out.strip() == "pod/box created"
    out = kubectl("-n", ns, "wait", "--for=condition=Ready", "pod/box", "--timeout=30s", timeout=40).stdout
    assert out.strip() == "pod/box condition met"
    pod = cluster.json("-n", ns, "get", "pod", "box")
    c = pod["spec"]["containers"][0]
    assert c["args"] == ["sleep", "3600"] and c["env"] == [{"name": "MODE", "value": "fast"}]
    assert pod["status"]["phase"] == "Running" and pod["spec"]["nodeName"]
    out = kubectl("-n", ns, "get", "pod", "box").stdout
    assert out.splitlines()[1].split()[:3] == ["box", "1/1", "Running"]
    out = kubectl("-n", ns, "delete", "pod", "box", "--grace-period=5", "--wait=false").stdout
    assert out.strip() == f'pod "box" deleted from {ns} namespace'
    out = kubectl("-n", ns, "wait", "--for=delete", "pod/box", "--timeout=30s", timeout=40).stdout
    assert "condition met" in out or out.strip() == ""
    assert kubectl("-n", ns, "get", "pod", "box", check=False).returncode != 0


@pytest.mark.compat("kubectl scale")
@pytest.mark.compat("kubectl rollout status")
@pytest.mark.compat("kubectl rollout history")
@pytest.mark.compat("kubectl rollout undo")
@pytest.mark.compat("kubectl rollout restart")
@pytest.mark.compat("kubectl rollout pause|resume")
@pytest.mark.compat("kubectl set image")
@pytest.mark.compat("kubectl wait --for=condition=Available")
def test_rollouts(cluster, kubectl, ns) -> None:
    kubectl("-n", ns, "create", "deployment", "web", "--image=nginx:1.25", "--replicas=2")
    out = kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=60s", timeout=70).stdout
    assert 'deployment "web" successfully rolled out' in out
    out = kubectl("-n", ns, "wait", "--for=condition=Available", "deployment/web", "--timeout=30s",
                  timeout=40).stdout
    assert out.strip() == "deployment.apps/web condition met"

    assert kubectl("-n", ns, "scale", "deployment", "web", "--replicas=3").stdout.strip() == \
        "deployment.apps/web scaled"
    wait_for(lambda: len(kubectl("-n", ns, "get", "pods", "-l", "app=web", "-o", "name").stdout.split()) == 3,
             30, "scale to 3 never gave 3 pods")
    r = kubectl("-n", ns, "scale", "deployment", "web", "--replicas=1", "--current-replicas=2", check=False)
    assert r.returncode != 0 and "Expected replicas to be 2, was 3" in r.stderr

    out = kubectl("-n", ns, "set", "image", "deployment/web", "nginx=nginx:1.26").stdout
    assert out.strip() == "deployment.apps/web image updated"
    kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=60s", timeout=70)
    out = kubectl("-n", ns, "rollout", "history", "deployment/web").stdout
    assert [line.split()[0] for line in out.strip().splitlines()[2:]] == ["1", "2"], out
    out = kubectl("-n", ns, "rollout", "history", "deployment/web", "--revision=2").stdout
    assert "nginx:1.26" in out

    assert kubectl("-n", ns, "rollout", "undo", "deployment/web").stdout.strip() == "deployment.apps/web rolled back"
    kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=60s", timeout=70)
    d = cluster.json("-n", ns, "get", "deployment", "web")
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"

    assert kubectl("-n", ns, "rollout", "pause", "deployment/web").stdout.strip() == "deployment.apps/web paused"
    kubectl("-n", ns, "set", "image", "deployment/web", "nginx=nginx:1.27")
    time.sleep(1)  # a paused deployment must not roll out; give the controller a chance to (wrongly) act
    assert all("nginx:1.27" not in json.dumps(rs["spec"]) for rs in rs_of(cluster, ns, "web"))
    assert kubectl("-n", ns, "rollout", "resume", "deployment/web").stdout.strip() == "deployment.apps/web resumed"
    kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=60s", timeout=70)
    assert any("nginx:1.27" in json.dumps(rs["spec"]) for rs in rs_of(cluster, ns, "web"))

    before = {rs["metadata"]["name"] for rs in rs_of(cluster, ns, "web")}
    assert kubectl("-n", ns, "rollout", "restart", "deployment/web").stdout.strip() == \
        "deployment.apps/web restarted"
    kubectl("-n", ns, "rollout", "status", "deployment/web", "--timeout=60s", timeout=70)
    d = cluster.json("-n", ns, "get", "deployment", "web")
    assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"]["annotations"]
    assert {rs["metadata"]["name"] for rs in rs_of(cluster, ns, "web")} - before  # a new ReplicaSet


@pytest.mark.compat("kubectl delete --cascade=background|foreground|orphan")
def test_delete_cascade(cluster, kubectl, ns) -> None:
    for name in ("bg", "fg", "orph"):
        kubectl("-n", ns, "create", "deployment", name, "--image=nginx", "--replicas=1")
    for name in ("bg", "fg", "orph"):
        kubectl("-n", ns, "rollout", "status", f"deployment/{name}", "--timeout=60s", timeout=70)

    kubectl("-n", ns, "delete", "deployment", "orph", "--cascade=orphan")
    rs = rs_of(cluster, ns, "orph")
    assert len(rs) == 1 and not rs[0]["metadata"].get("ownerReferences"), rs  # orphaned, not deleted

    out = kubectl("-n", ns, "delete", "deployment", "fg", "--cascade=foreground", timeout=60).stdout
    assert out.strip() == f'deployment.apps "fg" deleted from {ns} namespace'
    # foreground: by the time the owner is gone, its dependents are gone too
    assert rs_of(cluster, ns, "fg") == []

    kubectl("-n", ns, "delete", "deployment", "bg", "--cascade=background")
    wait_for(lambda: rs_of(cluster, ns, "bg") == [], 30, "background cascade left the ReplicaSet")
    wait_for(lambda: kubectl("-n", ns, "get", "pods", "-l", "app=bg", "-o", "name").stdout == "",
             30, "background cascade left pods")


# ------------------------------------------------------------------------ logs
TALKER = """\
apiVersion: v1
kind: Pod
metadata: {{name: talker}}
spec:
  nodeName: {node}
  terminationGracePeriodSeconds: 1
  tolerations: [{{key: kubelite.io/compat-logs, operator: Exists}}]
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; for i in 1 2 3 4 5; do echo line-$i; done; sleep 300 & wait"]
  - name: side
    image: busybox
    command: ["sh", "-c", "trap 'exit 0' TERM; echo side-says-hi; sleep 300 & wait"]
  - name: crasher
    image: busybox
    command: ["sh", "-c", "echo run-$(date +%s%N); sleep 0.3; exit 3"]
"""


@pytest.mark.compat("kubectl logs [-c] [--tail] [-f] [--previous]")
def test_logs(cluster, kubectl, ns, process_node, tmp_path) -> None:
    f = tmp_path / "talker.yaml"
    f.write_text(TALKER.format(node=process_node))
    kubectl("-n", ns, "apply", "-f", str(f))
    try:
        kubectl("-n", ns, "wait", "--for=jsonpath={.status.phase}=Running", "pod/talker", "--timeout=30s",
                timeout=40)
        logs = wait_for(lambda: kubectl("-n", ns, "logs", "talker", "-c", "main").stdout.count("line-") == 5
                        and kubectl("-n", ns, "logs", "talker", "-c", "main").stdout, 10, "no logs")
        assert logs.splitlines() == [f"line-{i}" for i in range(1, 6)]
        assert kubectl("-n", ns, "logs", "talker", "-c", "main", "--tail=2").stdout.splitlines() == [
            "line-4", "line-5"]
        assert kubectl("-n", ns, "logs", "talker", "-c", "side").stdout.strip() == "side-says-hi"
        default = kubectl("-n", ns, "logs", "talker")
        assert 'Defaulted container "main" out of: main, side, crasher' in default.stderr
        proc = subprocess.Popen(
            [cluster.kubectl_path, "--kubeconfig", str(cluster.kubeconfig), "-n", ns, "logs", "-f",
             "talker", "-c", "main", "--tail=1"], stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip() == "line-5"
            time.sleep(0.5)
            assert proc.poll() is None  # -f keeps the stream open while the container runs
        finally:
            proc.kill()
            proc.wait()
        prev = kubectl("-n", ns, "logs", "talker", "-c", "main", "--previous", check=False)
        assert prev.returncode != 0
        assert 'previous terminated container "main" in pod "talker" not found' in prev.stderr

        def restarted() -> bool:
            pod = cluster.json("-n", ns, "get", "pod", "talker")
            return any(c["name"] == "crasher" and c["restartCount"] >= 1
                       for c in pod["status"].get("containerStatuses", []))

        wait_for(restarted, 30, "crasher never restarted")
        previous = kubectl("-n", ns, "logs", "talker", "-c", "crasher", "--previous").stdout
        assert previous.startswith("run-") and len(previous.splitlines()) == 1
    finally:
        kubectl("-n", ns, "delete", "pod", "talker", "--grace-period=1", "--timeout=30s", check=False, timeout=40)


@pytest.mark.compat("kubectl cordon|uncordon|taint")
@pytest.mark.compat("kubectl drain")
def test_cordon_taint_drain(cluster, kubectl, ns, process_node, tmp_path) -> None:
    node = process_node  # its own node: cordoning it disturbs no other test
    try:
        assert kubectl("cordon", node).stdout.strip() == f"node/{node} cordoned"
        assert "SchedulingDisabled" in kubectl("get", "node", node).stdout
        assert cluster.json("get", "node", node)["spec"]["unschedulable"] is True
        assert kubectl("uncordon", node).stdout.strip() == f"node/{node} uncordoned"
        assert kubectl("taint", "nodes", node, "compat=yes:NoSchedule").stdout.strip() == f"node/{node} tainted"
        taints = cluster.json("get", "node", node)["spec"]["taints"]
        assert {"key": "compat", "value": "yes", "effect": "NoSchedule"} in taints
        kubectl("taint", "nodes", node, "compat=yes:NoSchedule-")
        f = tmp_path / "pod.yaml"
        f.write_text(TALKER.format(node=node).replace("talker", "drained"))
        kubectl("-n", ns, "apply", "-f", str(f))
        kubectl("-n", ns, "wait", "--for=jsonpath={.status.phase}=Running", "pod/drained", "--timeout=30s",
                timeout=40)
        out = kubectl("drain", node, "--force", "--grace-period=1", "--timeout=40s", timeout=50).stdout
        assert f"node/{node} cordoned" in out and f"node/{node} drained" in out
        assert kubectl("-n", ns, "get", "pod", "drained", check=False).returncode != 0
    finally:
        kubectl("uncordon", node, check=False)
        kubectl("taint", "nodes", node, "compat=yes:NoSchedule-", check=False)


@pytest.mark.compat("kubectl create job")
@pytest.mark.compat("kubectl create cronjob")
@pytest.mark.compat("kubectl create job --from=cronjob")
@pytest.mark.compat("kubectl get jobs,cronjobs")
def test_create_jobs_and_cronjobs(cluster, kubectl, ns) -> None:
    kubectl("-n", ns, "create", "job", "once", "--image=busybox", "--", "date")
    job = cluster.json("-n", ns, "get", "job", "once")
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"] == job["metadata"]["uid"]
    kubectl("-n", ns, "create", "cronjob", "hello", "--image=busybox", "--schedule=*/5 * * * *", "--", "date")
    kubectl("-n", ns, "create", "job", "manual", "--from=cronjob/hello")
    manual = cluster.json("-n", ns, "get", "job", "manual")
    assert manual["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert manual["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    out = kubectl("-n", ns, "get", "cronjobs").stdout
    assert out.split()[:7] == ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST", "SCHEDULE"], out
    assert "*/5 * * * *" in out
    out = kubectl("-n", ns, "get", "jobs").stdout
    assert out.split()[:5] == ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"] and "manual" in out, out
    bad = kubectl("-n", ns, "create", "cronjob", "bad", "--image=busybox", "--schedule=61 * * * *", check=False)
    assert bad.returncode != 0 and "spec.schedule" in bad.stderr, bad.stderr
