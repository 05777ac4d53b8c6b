"""The typed object model: strict decoding of real manifests, sparse encoding, the scheme."""

from __future__ import annotations

import msgspec
import msgspec.yaml
import pytest

from kubelite.api import scheme
from kubelite.api.apps_v1 import Deployment, ReplicaSet, Scale
from kubelite.api.coordination_v1 import Lease
from kubelite.api.core_v1 import (
    LABEL_SELECTOR,
    Binding,
    ConfigMap,
    Endpoints,
    Event,
    LabelSelector,
    Namespace,
    Node,
    Pod,
    Secret,
    Service,
)

# --- manifests as the Kubernetes documentation gives them -------------------

NGINX_DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
  labels:
    app: nginx
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:1.14.2
        ports:
        - containerPort: 80
"""

POD_ENV_FROM_CONFIGMAP = """
apiVersion: v1
kind: Pod
metadata:
  name: dapi-test-pod
spec:
  containers:
    - name: test-container
      image: registry.k8s.io/busybox
      command: [ "/bin/sh", "-c", "env" ]
      env:
        # Define the environment variable
        - name: SPECIAL_LEVEL_KEY
          valueFrom:
            configMapKeyRef:
              # The ConfigMap containing the value you want to assign to SPECIAL_LEVEL_KEY
              name: special-config
              # Specify the key associated with the value
              key: special.how
        - name: LOG_LEVEL
          valueFrom:
            configMapKeyRef:
              name: env-config
              key: log_level
        - name: MY_POD_IP
          valueFrom:
            fieldRef:
              fieldPath: status.podIP
        - name: MY_CPU_LIMIT
          valueFrom:
            resourceFieldRef:
              containerName: test-container
              resource: limits.cpu
        - name: SECRET_USERNAME
          valueFrom:
            secretKeyRef:
              name: mysecret
              key: username
              optional: false
      envFrom:
      - configMapRef:
          name: special-config
      resources:
        requests:
          memory: "64Mi"
          cpu: "250m"
        limits:
          memory: "128Mi"
          cpu: 0.5
  restartPolicy: Never
"""

SERVICE_NODEPORT = """
apiVersion: v1
kind: Service
metadata:
  name: my-service
spec:
  type: NodePort
  selector:
    app.kubernetes.io/name: MyApp
  ports:
    - port: 80
      # By default and for convenience, the `targetPort` is set to
      # the same value as the `port` field.
      targetPort: 80
      # Optional field
      # By default and for convenience, the Kubernetes control plane
      # will allocate a port from a range (default: 30000-32767)
      nodePort: 30007
"""

SECRET = """
apiVersion: v1
kind: Secret
metadata:
  name: dotfile-secret
data:
  .secret-file: dmFsdWUtMg0KDQo=
  username: YWRtaW4=
"""

POD_PROBES_AFFINITY = """
apiVersion: v1
kind: Pod
metadata:
  name: with-everything
  labels:
    test: liveness
spec:
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
        - matchExpressions:
          - key: topology.kubernetes.io/zone
            operator: In
            values:
            - antarctica-east1
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 1
        preference:
          matchExpressions:
          - key: another-node-label-key
            operator: In
            values:
            - another-node-label-value
    podAntiAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          labelSelector:
            matchExpressions:
            - key: security
              operator: In
              values:
              - S2
          topologyKey: topology.kubernetes.io/zone
  tolerations:
  - key: "example-key"
    operator: "Exists"
    effect: "NoSchedule"
  topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: zone
    whenUnsatisfiable: DoNotSchedule
    labelSelector:
      matchLabels:
        foo: bar
  initContainers:
  - name: init-myservice
    image: busybox:1.28
    command: ['sh', '-c', "until nslookup myservice; do echo waiting; sleep 2; done"]
  containers:
  - name: liveness
    image: registry.k8s.io/liveness
    args:
    - /server
    livenessProbe:
      httpGet:
        path: /healthz
        port: 8080
        httpHeaders:
        - name: Custom-Header
          value: Awesome
      initialDelaySeconds: 3
      periodSeconds: 3
    readinessProbe:
      tcpSocket:
        port: http
    startupProbe:
      grpc:
        port: 2379
    lifecycle:
      postStart:
        exec:
          command: ["/bin/sh", "-c", "echo Hello > /usr/share/message"]
      preStop:
        exec:
          command: ["/bin/sh","-c","nginx -s quit; while killall -0 nginx; do sleep 1; done"]
    securityContext:
      allowPrivilegeEscalation: false
      capabilities:
        add: ["NET_ADMIN", "SYS_TIME"]
    volumeMounts:
    - name: config
      mountPath: /config
      readOnly: true
    - name: cache
      mountPath: /cache
  securityContext:
    runAsUser: 1000
    fsGroup: 2000
  dnsConfig:
    nameservers: ["1.2.3.4"]
    options:
    - name: ndots
      value: "2"
  volumes:
  - name: config
    configMap:
      name: game-demo
      items:
      - key: "game.properties"
        path: "game.properties"
  - name: cache
    emptyDir:
      sizeLimit: 500Mi
  - name: all-in-one
    projected:
      sources:
      - secret:
          name: mysecret
          items:
            - key: username
              path: my-group/my-username
      - downwardAPI:
          items:
            - path: "labels"
              fieldRef:
                fieldPath: metadata.labels
      - serviceAccountToken:
          audience: api
          expirationSeconds: 3600
          path: token
"""

# What `kubectl create` / `kubectl run` send: nulls and empty objects included.
KUBECTL_POD_JSON = b"""{
  "kind": "Pod", "apiVersion": "v1",
  "metadata": {"name": "nginx", "creationTimestamp": null, "labels": {"run": "nginx"},
               "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
  "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": {}}],
           "restartPolicy": "Always", "dnsPolicy": "ClusterFirst"},
  "status": {}
}"""


@pytest.mark.parametrize(
    ("text", "typ"),
    [
        (NGINX_DEPLOYMENT, Deployment),
        (POD_ENV_FROM_CONFIGMAP, Pod),
        (SERVICE_NODEPORT, Service),
        (SECRET, Secret),
        (POD_PROBES_AFFINITY, Pod),
    ],
)
def test_docs_manifests_decode_strictly(text, typ):
    obj = msgspec.yaml.decode(text, type=typ)
    assert isinstance(obj, typ)
    assert obj.metadata.name


def test_deployment_fields():
    d = msgspec.yaml.decode(NGINX_DEPLOYMENT, type=Deployment)
    assert d.apiVersion == "apps/v1" and d.kind == "Deployment"
    assert d.spec.replicas == 3
    assert d.spec.selector.matchLabels == {"app": "nginx"}
    c = d.spec.template.spec.containers[0]
    assert (c.name, c.image, c.ports[0].containerPort) == ("nginx", "nginx:1.14.2", 80)
    assert c.ports[0].protocol is None  # unset until defaulting
    assert d.spec.strategy is None


def test_pod_env_fields():
    p = msgspec.yaml.decode(POD_ENV_FROM_CONFIGMAP, type=Pod)
    env = p.spec.containers[0].env
    assert env[0].valueFrom.configMapKeyRef.key == "special.how"
    assert env[2].valueFrom.fieldRef.fieldPath == "status.podIP"
    assert env[3].valueFrom.resourceFieldRef.resource == "limits.cpu"
    assert env[4].valueFrom.secretKeyRef.optional is False
    assert p.spec.containers[0].envFrom[0].configMapRef.name == "special-config"
    assert p.spec.containers[0].resources.limits == {"memory": "128Mi", "cpu": 0.5}


def test_service_and_secret_fields():
    s = msgspec.yaml.decode(SERVICE_NODEPORT, type=Service)
    assert s.spec.type == "NodePort"
    assert s.spec.ports[0].nodePort == 30007
    assert s.spec.selector == {"app.kubernetes.io/name": "MyApp"}
    sec = msgspec.yaml.decode(SECRET, type=Secret)
    assert sec.data["username"] == "YWRtaW4="  # base64 text, as on the wire
    assert sec.type is None


def test_int_or_string_ports():
    p = msgspec.yaml.decode(POD_PROBES_AFFINITY, type=Pod)
    c = p.spec.containers[0]
    assert c.livenessProbe.httpGet.port == 8080
    assert c.readinessProbe.tcpSocket.port == "http"
    assert c.startupProbe.grpc.port == 2379
    term = p.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution
    assert term.nodeSelectorTerms[0].matchExpressions[0].values == ["antarctica-east1"]


def test_kubectl_payload_with_nulls_decodes():
    p = msgspec.json.decode(KUBECTL_POD_JSON, type=Pod)
    assert p.metadata.creationTimestamp is None
    assert p.status is not None and p.status.phase is None


def test_unknown_field_is_rejected_with_path():
    bad = b'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},' \
          b'"spec":{"containers":[{"name":"a","imagee":"nginx"}]}}'
    with pytest.raises(msgspec.ValidationError) as ei:
        msgspec.json.decode(bad, type=Pod)
    msg = str(ei.value)
    assert "imagee" in msg
    assert "$.spec.containers[0]" in msg


def test_unknown_field_in_yaml_deployment_template():
    bad = NGINX_DEPLOYMENT.replace("containerPort: 80", "containerPort: 80\n          hostPorts: 1")
    with pytest.raises(msgspec.ValidationError) as ei:
        msgspec.yaml.decode(bad, type=Deployment)
    assert "hostPorts" in str(ei.value)
    assert "$.spec.template.spec.containers[0].ports[0]" in str(ei.value)


def test_wrong_type_is_rejected_with_path():
    with pytest.raises(msgspec.ValidationError) as ei:
        msgspec.json.decode(b'{"spec":{"replicas":"three"}}', type=Deployment)
    assert "$.spec.replicas" in str(ei.value)


def test_missing_required_fields_decode_to_none():
    # Validation, not decoding, reports required values.
    p = msgspec.json.decode(b'{"spec":{"containers":[{}]}}', type=Pod)
    assert p.spec.containers[0].name is None and p.spec.containers[0].image is None
    s = msgspec.json.decode(b'{"spec":{"ports":[{}]}}', type=Service)
    assert s.spec.ports[0].port is None


def test_encode_round_trip_and_omits_unset():
    d = msgspec.yaml.decode(NGINX_DEPLOYMENT, type=Deployment)
    raw = msgspec.json.encode(d)
    again = msgspec.json.decode(raw, type=Deployment)
    assert again == d
    doc = msgspec.json.decode(raw)
    assert "status" not in doc
    assert "strategy" not in doc["spec"]
    assert doc["spec"]["template"]["spec"]["containers"][0] == {
        "name": "nginx", "image": "nginx:1.14.2", "ports": [{"containerPort": 80}],
    }
    # Explicit zero/false/empty survive (distinguishable from unset).
    d.spec.replicas = 0
    d.spec.paused = False
    d.metadata.labels = {}
    doc = msgspec.json.decode(msgspec.json.encode(d))
    assert doc["spec"]["replicas"] == 0 and doc["spec"]["paused"] is False
    assert doc["metadata"]["labels"] == {}


@pytest.mark.parametrize("text", [POD_ENV_FROM_CONFIGMAP, POD_PROBES_AFFINITY])
def test_pod_round_trip(text):
    p = msgspec.yaml.decode(text, type=Pod)
    assert msgspec.json.decode(msgspec.json.encode(p), type=Pod) == p


def test_status_types_decode():
    pod_status = b"""{"metadata":{"name":"p"},"status":{
      "phase":"Running","hostIP":"10.0.0.1","hostIPs":[{"ip":"10.0.0.1"}],
      "podIP":"10.244.1.5","podIPs":[{"ip":"10.244.1.5"}],"startTime":"2024-01-01T00:00:00Z",
      "qosClass":"BestEffort","nominatedNodeName":"n2",
      "conditions":[{"type":"Ready","status":"True","lastProbeTime":null,
                     "lastTransitionTime":"2024-01-01T00:00:01Z"}],
      "containerStatuses":[{"name":"c","ready":true,"started":true,"restartCount":1,
        "image":"nginx:1.25","imageID":"docker-pullable://nginx@sha256:abc",
        "containerID":"docker://123",
        "state":{"running":{"startedAt":"2024-01-01T00:00:01Z"}},
        "lastState":{"terminated":{"exitCode":137,"signal":9,"reason":"OOMKilled",
          "message":"m","startedAt":"2024-01-01T00:00:00Z",
          "finishedAt":"2024-01-01T00:00:01Z","containerID":"docker://122"}}}],
      "initContainerStatuses":[{"name":"i","ready":false,"restartCount":0,"image":"busybox",
        "imageID":"","state":{"waiting":{"reason":"PodInitializing","message":""}}}]}}"""
    p = msgspec.json.decode(pod_status, type=Pod)
    assert p.status.containerStatuses[0].lastState.terminated.exitCode == 137
    node = b"""{"metadata":{"name":"n1"},"spec":{"podCIDR":"10.244.1.0/24",
      "podCIDRs":["10.244.1.0/24"],"unschedulable":true,"providerID":"kubelite://n1",
      "taints":[{"key":"node.kubernetes.io/unreachable","effect":"NoExecute",
                 "timeAdded":"2024-01-01T00:00:00Z"}]},
      "status":{"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},
        "allocatable":{"cpu":"4","memory":"8Gi","pods":"110"},
        "conditions":[{"type":"Ready","status":"True","lastHeartbeatTime":"2024-01-01T00:00:00Z",
          "lastTransitionTime":"2024-01-01T00:00:00Z","reason":"KubeletReady","message":"ok"}],
        "addresses":[{"type":"InternalIP","address":"10.0.0.1"},{"type":"Hostname","address":"n1"}],
        "daemonEndpoints":{"kubeletEndpoint":{"Port":10250}},
        "nodeInfo":{"machineID":"m","systemUUID":"s","bootID":"b","kernelVersion":"6.1",
          "osImage":"Debian","containerRuntimeVersion":"docker://24","kubeletVersion":"v1.30.0",
          "kubeProxyVersion":"v1.30.0","operatingSystem":"linux","architecture":"amd64"},
        "images":[{"names":["nginx:1.25"],"sizeBytes":1000}]}}"""
    n = msgspec.json.decode(node, type=Node)
    assert n.status.daemonEndpoints.kubeletEndpoint.Port == 10250
    assert b'"Port":10250' in msgspec.json.encode(n)


def test_other_kinds_decode():
    msgspec.json.decode(b"""{"metadata":{"name":"s"},"subsets":[{"addresses":[{"ip":"10.244.1.5",
      "nodeName":"n1","targetRef":{"kind":"Pod","name":"p","namespace":"default","uid":"u"}}],
      "notReadyAddresses":[{"ip":"10.244.2.5","hostname":"h"}],
      "ports":[{"name":"http","port":80,"protocol":"TCP","appProtocol":"http"}]}]}""", type=Endpoints)
    msgspec.json.decode(b"""{"metadata":{"name":"ns1"},"spec":{"finalizers":["kubernetes"]},
      "status":{"phase":"Terminating","conditions":[{"type":"NamespaceDeletionContentFailure",
      "status":"False","lastTransitionTime":"2024-01-01T00:00:00Z","reason":"r","message":"m"}]}}""",
                        type=Namespace)
    msgspec.json.decode(b'{"metadata":{"name":"c"},"data":{"a":"b"},"binaryData":{"b":"AAE="},'
                        b'"immutable":true}', type=ConfigMap)
    ev = msgspec.json.decode(b"""{"metadata":{"name":"p.1","namespace":"default"},
      "involvedObject":{"kind":"Pod","namespace":"default","name":"p","uid":"u",
        "apiVersion":"v1","resourceVersion":"5","fieldPath":"spec.containers{c}"},
      "reason":"Scheduled","message":"assigned","source":{"component":"default-scheduler"},
      "firstTimestamp":"2024-01-01T00:00:00Z","lastTimestamp":"2024-01-01T00:00:00Z","count":1,
      "type":"Normal","eventTime":"2024-01-01T00:00:00.000000Z","series":{"count":2,
      "lastObservedTime":"2024-01-01T00:00:00.000000Z"},"action":"Binding",
      "related":{"kind":"Node","name":"n1"},"reportingComponent":"default-scheduler",
      "reportingInstance":"sched-1"}""", type=Event)
    assert ev.involvedObject.fieldPath == "spec.containers{c}"
    b = msgspec.json.decode(b'{"apiVersion":"v1","kind":"Binding","metadata":{"name":"p"},'
                            b'"target":{"apiVersion":"v1","kind":"Node","name":"n1"}}', type=Binding)
    assert b.target.name == "n1"
    lease = msgspec.json.decode(b"""{"apiVersion":"coordination.k8s.io/v1","kind":"Lease",
      "metadata":{"name":"kube-scheduler","namespace":"kube-system"},
      "spec":{"holderIdentity":"a","leaseDurationSeconds":15,
      "acquireTime":"2024-01-01T00:00:00.000000Z","renewTime":"2024-01-01T00:00:05.000000Z",
      "leaseTransitions":3}}""", type=Lease)
    assert lease.spec.leaseDurationSeconds == 15
    sc = msgspec.json.decode(b'{"apiVersion":"autoscaling/v1","kind":"Scale",'
                             b'"metadata":{"name":"d"},"spec":{"replicas":5},'
                             b'"status":{"replicas":3,"selector":"app=nginx"}}', type=Scale)
    assert sc.status.selector == "app=nginx"
    rs = msgspec.json.decode(b"""{"metadata":{"name":"r"},"spec":{"replicas":2,"minReadySeconds":5,
      "selector":{"matchLabels":{"a":"b"},"matchExpressions":[{"key":"t","operator":"In",
      "values":["x"]}]},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[
      {"name":"c","image":"i"}]}}},"status":{"replicas":2,"fullyLabeledReplicas":2,
      "readyReplicas":1,"availableReplicas":1,"observedGeneration":1,"conditions":[
      {"type":"ReplicaFailure","status":"True","lastTransitionTime":"2024-01-01T00:00:00Z",
      "reason":"FailedCreate","message":"m"}]}}""", type=ReplicaSet)
    assert rs.spec.selector.matchExpressions[0].operator == "In"
    d = msgspec.json.decode(b"""{"metadata":{"name":"d"},"spec":{"strategy":{"type":"RollingUpdate",
      "rollingUpdate":{"maxSurge":1,"maxUnavailable":"10%"}},"paused":true},
      "status":{"observedGeneration":2,"replicas":3,"updatedReplicas":3,"readyReplicas":3,
      "availableReplicas":3,"unavailableReplicas":0,"collisionCount":0,"conditions":[
      {"type":"Available","status":"True","lastUpdateTime":"2024-01-01T00:00:00Z",
      "lastTransitionTime":"2024-01-01T00:00:00Z","reason":"MinimumReplicasAvailable",
      "message":"ok"}]}}""", type=Deployment)
    assert d.spec.strategy.rollingUpdate.maxSurge == 1
    assert d.spec.strategy.rollingUpdate.maxUnavailable == "10%"


def test_label_selector_helper_is_shared():
    from kubelite.api import apps_v1
    assert LABEL_SELECTOR is LabelSelector is apps_v1.LabelSelector


def test_scheme_registration():
    expected = {
        ("v1", "Pod"): ("pods", "pod", True, ("po",)),
        ("v1", "Service"): ("services", "service", True, ("svc",)),
        ("v1", "Namespace"): ("namespaces", "namespace", False, ("ns",)),
        ("v1", "Node"): ("nodes", "node", False, ("no",)),
        ("v1", "ConfigMap"): ("configmaps", "configmap", True, ("cm",)),
        ("v1", "Secret"): ("secrets", "secret", True, ()),
        ("v1", "Endpoints"): ("endpoints", "endpoints", True, ("ep",)),
        ("v1", "Event"): ("events", "event", True, ("ev",)),
        ("v1", "Binding"): ("bindings", "binding", True, ()),
        ("apps/v1", "Deployment"): ("deployments", "deployment", True, ("deploy",)),
        ("apps/v1", "ReplicaSet"): ("replicasets", "replicaset", True, ("rs",)),
        ("coordination.k8s.io/v1", "Lease"): ("leases", "lease", True, ()),
    }
    for (av, kind), (plural, singular, namespaced, short) in expected.items():
        info = scheme.by_kind(av, kind)
        assert info is not None, kind
        assert (info.plural, info.singular, info.namespaced, info.short_names) == (
            plural, singular, namespaced, short)
        assert info.type.__name__ == kind
    assert scheme.resolve("deploy").kind == "Deployment"
    assert scheme.resolve("po").kind == "Pod"
    assert scheme.resolve("leases").kind == "Lease"
    pods = scheme.by_plural("", "pods")
    assert set(pods.subresources) >= {"status", "binding", "log", "exec", "portforward"}
    for g, p in (("apps", "deployments"), ("apps", "replicasets")):
        assert set(scheme.by_plural(g, p).subresources) >= {"status", "scale"}
    for p in ("services", "nodes", "namespaces"):
        assert "status" in scheme.by_plural("", p).subresources
    all_cat = {i.plural for i in scheme.all_resources() if "all" in i.categories}
    assert all_cat == {"pods", "services", "deployments", "replicasets", "replicationcontrollers", "jobs", "daemonsets",
                       "statefulsets", "cronjobs",
                       "horizontalpodautoscalers"}
    no_spec = {i.kind for i in scheme.all_resources() if not i.has_spec}
    assert {"ConfigMap", "Secret", "Event", "Endpoints"} <= no_spec
    assert not no_spec & {"Pod", "Service", "Deployment", "ReplicaSet", "Node", "Namespace"}
