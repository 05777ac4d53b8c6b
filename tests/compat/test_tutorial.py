"""The Kubernetes documentation's Deployment and Service tutorials ("Learn Kubernetes
Basics" and "Connecting Applications with Services"), step by step with the real
kubectl; only the image is substituted. Steps that need `kubectl exec` or the
pods/proxy subresource are left out (see docs/kubectl-compat.md)."""

from __future__ import annotations

import pytest

from tests.compat.conftest import wait_for


@pytest.mark.compat("Kubernetes Basics tutorial (deploy, explore, expose, scale, update)",
                    missing="the steps using kubectl exec and the pods/proxy subresource")
def test_kubernetes_basics_tutorial(cluster, kubectl, ns) -> None:
    k = lambda *a, **kw: kubectl("-n", ns, *a, **kw)  # noqa: E731 - reads like the tutorial
    # Module 2: create a Deployment
    k("create", "deployment", "kubernetes-bootcamp", "--image=busybox:v1")
    k("rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=60s", timeout=70)
    out = k("get", "deployments").stdout
    assert out.splitlines()[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert out.splitlines()[1].split()[:4] == ["kubernetes-bootcamp", "1/1", "1", "1"]
    # Module 3: explore
    pod = k("get", "pods", "-o", "go-template",
            "--template", '{{range .items}}{{.metadata.name}}{{"\\n"}}{{end}}').stdout.split()[0]
    assert pod.startswith("kubernetes-bootcamp-")
    assert "Containers:" in k("describe", "pods").stdout
    # Module 4: expose
    assert k("expose", "deployment/kubernetes-bootcamp", "--type=NodePort", "--port", "8080").stdout.strip() == \
        "service/kubernetes-bootcamp exposed"
    out = k("get", "services").stdout
    assert "NodePort" in out and "8080:3" in out
    node_port = k("get", "services/kubernetes-bootcamp", "-o",
                  "go-template={{(index .spec.ports 0).nodePort}}").stdout
    assert 30000 <= int(node_port) <= 32767
    assert "NodePort:" in k("describe", "services/kubernetes-bootcamp").stdout
    wait_for(lambda: ":8080" in k("get", "endpoints", "kubernetes-bootcamp").stdout, 20,
             "the service never got an endpoint")
    # kubectl 1.33+ shows the endpoints from the service's EndpointSlice
    wait_for(lambda: any(line.startswith("Endpoints:") and ":8080" in line
                         for line in k("describe", "services/kubernetes-bootcamp").stdout.splitlines()),
             20, "describe service never showed the endpoint")
    assert k("get", "pods", "-l", "app=kubernetes-bootcamp", "-o", "name").stdout.strip() == f"pod/{pod}"
    assert k("get", "services", "-l", "app=kubernetes-bootcamp", "-o", "name").stdout.strip() == \
        "service/kubernetes-bootcamp"
    assert k("label", "pods", pod, "version=v1").stdout.strip() == f"pod/{pod} labeled"
    assert "version=v1" in k("describe", "pods", pod).stdout
    assert k("get", "pods", "-l", "version=v1", "-o", "name").stdout.strip() == f"pod/{pod}"
    assert "deleted" in k("delete", "service", "-l", "app=kubernetes-bootcamp").stdout
    assert k("get", "services").stdout == ""
    # Module 5: scale
    k("scale", "deployments/kubernetes-bootcamp", "--replicas=4")
    k("rollout", "status", "deployment/kubernetes-bootcamp", "--timeout=60s", timeout=70)
    assert k("get", "deployments").stdout.splitlines()[1].split()[1] == "4/4"
    wide = k("get", "pods", "-o", "wide").stdout
    assert wide.splitlines()[0].split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert len(wide.splitlines()) == 5
    assert "Replicas:" in k("describe", "deployments/kubernetes-bootcamp").stdout
    k("scale", "deployments/kubernetes-bootcamp", "--replicas=2")
    wait_for(lambda: len(k("get", "pods", "-l", "app=kubernetes-bootcamp", "-o", "name").stdout.split()) == 2,
             30, "scale down to 2 never finished")
    # Module 6: rolling update and rollback
    k("set", "image", "deployments/kubernetes-bootcamp", "busybox=busybox:v2")
    out = k("rollout", "status", "deployments/kubernetes-bootcamp", "--timeout=60s", timeout=70).stdout
    assert 'deployment "kubernetes-bootcamp" successfully rolled out' in out
    assert "busybox:v2" in k("describe", "pods").stdout
    k("rollout", "undo", "deployments/kubernetes-bootcamp")
    k("rollout", "status", "deployments/kubernetes-bootcamp", "--timeout=60s", timeout=70)
    images = k("get", "deployment", "kubernetes-bootcamp", "-o",
               "jsonpath={.spec.template.spec.containers[0].image}").stdout
    assert images == "busybox:v1"
    k("delete", "deployments/kubernetes-bootcamp", "services/kubernetes-bootcamp", check=False)


NGINX = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-nginx
spec:
  selector:
    matchLabels:
      run: my-nginx
  replicas: 2
  template:
    metadata:
      labels:
        run: my-nginx
    spec:
      containers:
      - name: my-nginx
        image: nginx
        ports:
        - containerPort: 80
"""

NGINX_SVC = """\
apiVersion: v1
kind: Service
metadata:
  name: my-nginx
  labels:
    run: my-nginx
spec:
  ports:
  - port: 80
    protocol: TCP
  selector:
    run: my-nginx
"""


@pytest.mark.compat("Connecting Applications with Services tutorial",
                    missing="the steps using kubectl exec, curl into pods and DNS lookups from a pod")
def test_connecting_applications_with_services_tutorial(cluster, kubectl, ns, tmp_path) -> None:
    k = lambda *a, **kw: kubectl("-n", ns, *a, **kw)  # noqa: E731
    (tmp_path / "run-my-nginx.yaml").write_text(NGINX)
    (tmp_path / "nginx-svc.yaml").write_text(NGINX_SVC)
    k("apply", "-f", str(tmp_path / "run-my-nginx.yaml"))
    k("rollout", "status", "deployment/my-nginx", "--timeout=60s", timeout=70)
    out = k("get", "pods", "-l", "run=my-nginx", "-o", "wide").stdout
    assert len(out.splitlines()) == 3
    ips = k("get", "pods", "-l", "run=my-nginx", "-o", "custom-columns=POD_IP:.status.podIPs").stdout
    assert ips.splitlines()[0] == "POD_IP" and all(line.startswith("[map[ip:") for line in ips.splitlines()[1:])
    assert k("expose", "deployment/my-nginx").stdout.strip() == "service/my-nginx exposed"
    k("delete", "service", "my-nginx")
    k("apply", "-f", str(tmp_path / "nginx-svc.yaml"))
    out = k("get", "svc", "my-nginx").stdout
    assert out.splitlines()[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert "80/TCP" in out
    ep = wait_for(lambda: (o := k("get", "endpoints", "my-nginx").stdout).count(":80") == 2 and o, 20,
                  "endpoints never listed both pods")
    assert ep.splitlines()[0].split() == ["NAME", "ENDPOINTS", "AGE"]
    assert "Endpoints:" in k("describe", "svc", "my-nginx").stdout
    k("scale", "deployment", "my-nginx", "--replicas=0")
    k("scale", "deployment", "my-nginx", "--replicas=2")
    k("rollout", "status", "deployment/my-nginx", "--timeout=60s", timeout=70)
    k("patch", "svc", "my-nginx", "-p", '{"spec":{"type":"NodePort"}}')
    assert "NodePort" in k("get", "svc", "my-nginx").stdout
