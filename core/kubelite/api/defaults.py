"""Kubernetes defaulting: `apply_defaults(obj)` fills in what Kubernetes fills in.

Mirrors k8s.io/kubernetes pkg/apis/core/v1/defaults.go and
pkg/apis/apps/v1/defaults.go (plus the declarative `+default` markers and the
few defaults the Kubernetes registry applies on create: Service IP families,
the Namespace "kubernetes" finalizer). A default never replaces a value the
user set (the one exception is Kubernetes' own: the
`kubernetes.io/metadata.name` namespace label always equals the name).

Also normalises resource quantities that YAML gave as numbers (`cpu: 1`,
`cpu: 0.5`) to the strings Kubernetes would return ("1", "0.5").

Everything mutates in place, dispatching once on `type(obj)`; there is no
copying and no reflection, since the apiserver runs this on every write.
"""

from __future__ import annotations

from collections.abc import Callable

from kubelite.api.apiextensions_v1 import CustomResourceDefinition
from kubelite.api.apps_v1 import (
    ControllerRevision,
    DaemonSet,
    DaemonSetSpec,
    DaemonSetUpdateStrategy,
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    ReplicaSet,
    ReplicaSetSpec,
    RollingUpdateDaemonSet,
    RollingUpdateDeployment,
    RollingUpdateStatefulSetStrategy,
    StatefulSet,
    StatefulSetPersistentVolumeClaimRetentionPolicy,
    StatefulSetSpec,
    StatefulSetUpdateStrategy,
)
from kubelite.api.autoscaling_v2 import (
    HorizontalPodAutoscaler,
    HorizontalPodAutoscalerSpec,
    HPAScalingPolicy,
    HPAScalingRules,
    MetricSpec,
    MetricTarget,
    ResourceMetricSource,
)
from kubelite.api.batch_v1 import CronJob, CronJobSpec, Job, JobSpec
from kubelite.api.coordination_v1 import Lease
from kubelite.api.core_v1 import (
    Binding,
    ClientIPConfig,
    ConfigMap,
    Container,
    EmptyDirVolumeSource,
    Endpoints,
    Event,
    Namespace,
    NamespaceSpec,
    NamespaceStatus,
    Node,
    PersistentVolume,
    PersistentVolumeClaim,
    PersistentVolumeStatus,
    Pod,
    PodSecurityContext,
    PodSpec,
    PodTemplateSpec,
    Probe,
    ReplicationController,
    ReplicationControllerSpec,
    Secret,
    Service,
    ServiceSpec,
    SessionAffinityConfig,
    Volume,
)
from kubelite.api.meta import Object
from kubelite.api.policy_v1 import PodDisruptionBudget
from kubelite.api.storage_v1 import StorageClass

__all__ = [
    "NAMESPACE_FINALIZER",
    "apply_defaults",
    "default_pod_spec",
    "default_pod_template",
    "image_pull_policy_for",
    "normalize_quantity",
]

NAMESPACE_FINALIZER = "kubernetes"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
DEFAULT_SCHEDULER_NAME = "default-scheduler"
DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS = 30
DEFAULT_VOLUME_MODE = 0o644  # 420: configMap, secret, projected, downwardAPI volumes
DEFAULT_CLIENT_IP_AFFINITY_SECONDS = 10800


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def normalize_quantity(value: str | int | float) -> str:
    """A quantity as Kubernetes prints it: 1 -> "1", 0.5 -> "0.5", 2.0 -> "2"."""
    t = type(value)
    if t is str:
        return value  # type: ignore[return-value]
    if t is int:
        return str(value)
    if t is float:
        if value.is_integer():  # type: ignore[union-attr]
            return str(int(value))
        return repr(value)
    return str(value)


def _normalize_resources(rl: dict | None) -> None:
    if rl:
        for k, v in rl.items():
            if type(v) is not str:
                rl[k] = normalize_quantity(v)


def image_pull_policy_for(image: str | None) -> str:
    """Always for `:latest` or an untagged, undigested image; IfNotPresent otherwise.

    As Kubernetes' parsers.ParseImageName: the tag is what follows the last
    ':' after the last '/', so a registry port ("host:5000/app") is not a tag.
    """
    if not image:
        return "Always"
    if "@" in image:  # by digest: never "latest"
        name, _, _ = image.partition("@")
        slash = name.rfind("/")
        colon = name.rfind(":")
        tag = name[colon + 1:] if colon > slash else ""
        return "Always" if tag == "latest" else "IfNotPresent"
    slash = image.rfind("/")
    colon = image.rfind(":")
    if colon <= slash:  # no tag: Kubernetes assumes ":latest"
        return "Always"
    return "Always" if image[colon + 1:] == "latest" else "IfNotPresent"


def _default_probe(p: Probe) -> None:
    if not p.timeoutSeconds:
        p.timeoutSeconds = 1
    if not p.periodSeconds:
        p.periodSeconds = 10
    if not p.successThreshold:
        p.successThreshold = 1
    if not p.failureThreshold:
        p.failureThreshold = 3
    _default_http_get(p.httpGet)
    g = p.grpc
    if g is not None and g.service is None:
        g.service = ""


def _default_http_get(h) -> None:  # HTTPGetAction of a probe or lifecycle handler
    if h is not None:
        if not h.path:
            h.path = "/"
        if not h.scheme:
            h.scheme = "HTTP"


def _default_handler(h) -> None:  # LifecycleHandler
    if h is not None:
        _default_http_get(h.httpGet)


def _default_env(env: list) -> None:
    for e in env:
        vf = e.valueFrom
        if vf is not None:
            fr = vf.fieldRef
            if fr is not None and not fr.apiVersion:
                fr.apiVersion = "v1"
            rf = vf.resourceFieldRef
            if rf is not None and rf.divisor is not None and type(rf.divisor) is not str:
                rf.divisor = normalize_quantity(rf.divisor)


def _default_container(c: Container) -> None:
    if not c.imagePullPolicy:
        c.imagePullPolicy = image_pull_policy_for(c.image)
    if not c.terminationMessagePath:
        c.terminationMessagePath = "/dev/termination-log"
    if not c.terminationMessagePolicy:
        c.terminationMessagePolicy = "File"
    if c.ports:
        for port in c.ports:
            if not port.protocol:
                port.protocol = "TCP"
    if c.env:
        _default_env(c.env)
    r = c.resources
    if r is not None:
        _normalize_resources(r.limits)
        _normalize_resources(r.requests)
    if c.livenessProbe is not None:
        _default_probe(c.livenessProbe)
    if c.readinessProbe is not None:
        _default_probe(c.readinessProbe)
    if c.startupProbe is not None:
        _default_probe(c.startupProbe)
    lc = c.lifecycle
    if lc is not None:
        _default_handler(lc.postStart)
        _default_handler(lc.preStop)


def _default_volume(v: Volume) -> None:
    if v.configMap is not None:
        if v.configMap.defaultMode is None:
            v.configMap.defaultMode = DEFAULT_VOLUME_MODE
    elif v.secret is not None:
        if v.secret.defaultMode is None:
            v.secret.defaultMode = DEFAULT_VOLUME_MODE
    elif v.emptyDir is not None:
        if v.emptyDir.sizeLimit is not None and type(v.emptyDir.sizeLimit) is not str:
            v.emptyDir.sizeLimit = normalize_quantity(v.emptyDir.sizeLimit)
    elif v.hostPath is not None:
        if v.hostPath.type is None:
            v.hostPath.type = ""
    elif v.projected is not None:
        pj = v.projected
        if pj.defaultMode is None:
            pj.defaultMode = DEFAULT_VOLUME_MODE
        if pj.sources:
            for s in pj.sources:
                if s.serviceAccountToken is not None and s.serviceAccountToken.expirationSeconds is None:
                    s.serviceAccountToken.expirationSeconds = 3600
                if s.downwardAPI is not None and s.downwardAPI.items:
                    _default_downward_items(s.downwardAPI.items)
    elif v.downwardAPI is not None:
        if v.downwardAPI.defaultMode is None:
            v.downwardAPI.defaultMode = DEFAULT_VOLUME_MODE
        if v.downwardAPI.items:
            _default_downward_items(v.downwardAPI.items)
    elif (
        v.persistentVolumeClaim is None and v.nfs is None and v.image is None
        and v.csi is None and v.ephemeral is None
    ):
        # A volume with no source is an emptyDir (SetDefaults_Volume).
        v.emptyDir = EmptyDirVolumeSource()
    if v.image is not None and not v.image.pullPolicy:
        v.image.pullPolicy = image_pull_policy_for(v.image.reference)


def _default_downward_items(items: list) -> None:
    for it in items:
        fr = it.fieldRef
        if fr is not None and not fr.apiVersion:
            fr.apiVersion = "v1"


def default_pod_spec(spec: PodSpec) -> None:
    """SetDefaults_PodSpec and everything below it (containers, probes, volumes).

    Applied to Pods and to pod templates alike.
    """
    if not spec.dnsPolicy:
        spec.dnsPolicy = "ClusterFirst"
    if not spec.restartPolicy:
        spec.restartPolicy = "Always"
    if spec.securityContext is None:
        spec.securityContext = PodSecurityContext()
    if spec.terminationGracePeriodSeconds is None:
        spec.terminationGracePeriodSeconds = DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS
    if not spec.schedulerName:
        spec.schedulerName = DEFAULT_SCHEDULER_NAME
    for c in (*(spec.containers or ()), *(spec.initContainers or ()), *(spec.ephemeralContainers or ())):
        _default_container(c)
    if spec.volumes:
        for v in spec.volumes:
            _default_volume(v)
    _normalize_resources(spec.overhead)
    r = spec.resources
    if r is not None:
        _normalize_resources(r.limits)
        _normalize_resources(r.requests)


def default_pod_template(t: PodTemplateSpec | None) -> None:
    if t is not None:
        if t.spec is None:
            t.spec = PodSpec()
        default_pod_spec(t.spec)


def _requests_from_limits(containers: list[Container] | None) -> None:
    if containers:
        for c in containers:
            r = c.resources
            if r is not None and r.limits is not None:
                if r.requests is None:
                    r.requests = dict(r.limits)
                else:
                    req = r.requests
                    for k, v in r.limits.items():
                        if k not in req:
                            req[k] = v


def _host_network_ports(containers: list[Container] | None) -> None:
    if containers:
        for c in containers:
            if c.ports:
                for p in c.ports:
                    if not p.hostPort:
                        p.hostPort = p.containerPort


# --------------------------------------------------------------------------
# Per kind
# --------------------------------------------------------------------------


def _default_pod(pod: Pod) -> None:
    spec = pod.spec = pod.spec or PodSpec()
    default_pod_spec(spec)  # normalises quantities before they are copied below
    # SetDefaults_Pod: only on Pods, not templates.
    _requests_from_limits(spec.containers)
    _requests_from_limits(spec.initContainers)
    if spec.enableServiceLinks is None:
        spec.enableServiceLinks = True
    if spec.hostNetwork:
        _host_network_ports(spec.containers)
        _host_network_ports(spec.initContainers)


def _default_service(svc: Service) -> None:
    spec = svc.spec = svc.spec or ServiceSpec()
    if not spec.sessionAffinity:
        spec.sessionAffinity = "None"
    if spec.sessionAffinity == "None":
        spec.sessionAffinityConfig = None
    elif spec.sessionAffinity == "ClientIP":
        sac = spec.sessionAffinityConfig
        if sac is None or sac.clientIP is None or sac.clientIP.timeoutSeconds is None:
            spec.sessionAffinityConfig = SessionAffinityConfig(
                clientIP=ClientIPConfig(timeoutSeconds=DEFAULT_CLIENT_IP_AFFINITY_SECONDS)
            )
    if not spec.type:
        spec.type = "ClusterIP"
    stype = spec.type
    if spec.ports:
        for p in spec.ports:
            if not p.protocol:
                p.protocol = "TCP"
            if p.targetPort is None or p.targetPort == 0 or p.targetPort == "":
                p.targetPort = p.port
    if stype in ("NodePort", "LoadBalancer") or (stype == "ClusterIP" and spec.externalIPs):
        # service.ExternallyAccessible
        if not spec.externalTrafficPolicy:
            spec.externalTrafficPolicy = "Cluster"
    if spec.internalTrafficPolicy is None and stype in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec.internalTrafficPolicy = "Cluster"
    if stype == "LoadBalancer" and spec.allocateLoadBalancerNodePorts is None:
        spec.allocateLoadBalancerNodePorts = True
    if stype != "ExternalName":
        # The Kubernetes registry's IP-family defaulting on a single-stack IPv4 cluster.
        if spec.ipFamilyPolicy is None:
            spec.ipFamilyPolicy = "SingleStack"
        if spec.ipFamilies is None:
            spec.ipFamilies = ["IPv4"]


def _default_deployment(d: Deployment) -> None:
    spec = d.spec = d.spec or DeploymentSpec()
    if spec.replicas is None:
        spec.replicas = 1
    st = spec.strategy
    if st is None:
        st = spec.strategy = DeploymentStrategy()
    if not st.type:
        st.type = "RollingUpdate"
    if st.type == "RollingUpdate":
        ru = st.rollingUpdate
        if ru is None:
            ru = st.rollingUpdate = RollingUpdateDeployment()
        if ru.maxUnavailable is None:
            ru.maxUnavailable = "25%"
        if ru.maxSurge is None:
            ru.maxSurge = "25%"
    if spec.revisionHistoryLimit is None:
        spec.revisionHistoryLimit = 10
    if spec.progressDeadlineSeconds is None:
        spec.progressDeadlineSeconds = 600
    default_pod_template(spec.template)


def _default_replicaset(rs: ReplicaSet) -> None:
    spec = rs.spec = rs.spec or ReplicaSetSpec()
    if spec.replicas is None:
        spec.replicas = 1
    default_pod_template(spec.template)


def _default_replication_controller(rc: ReplicationController) -> None:
    """SetDefaults_ReplicationController: the selector and the labels default to each other, 1 replica."""
    spec = rc.spec = rc.spec or ReplicationControllerSpec()
    template_meta = spec.template.metadata if spec.template is not None else None
    labels = (template_meta.labels if template_meta is not None else None) or {}
    if not spec.selector and labels:
        spec.selector = dict(labels)
    if spec.replicas is None:
        spec.replicas = 1
    default_pod_template(spec.template)


def _default_daemonset(ds: DaemonSet) -> None:
    """SetDefaults_DaemonSet: RollingUpdate with maxUnavailable 1 and maxSurge 0, history 10."""
    spec = ds.spec = ds.spec or DaemonSetSpec()
    st = spec.updateStrategy = spec.updateStrategy or DaemonSetUpdateStrategy()
    if not st.type:
        st.type = "RollingUpdate"
    if st.type == "RollingUpdate":
        ru = st.rollingUpdate = st.rollingUpdate or RollingUpdateDaemonSet()
        if ru.maxUnavailable is None:
            ru.maxUnavailable = 1
        if ru.maxSurge is None:
            ru.maxSurge = 0
    if spec.revisionHistoryLimit is None:
        spec.revisionHistoryLimit = 10
    default_pod_template(spec.template)


def _default_statefulset(sts: StatefulSet) -> None:
    """SetDefaults_StatefulSet: 1 replica, OrderedReady, RollingUpdate with partition 0,
    history 10, claims retained on deletion and scale-down; each claim template's
    volumeMode Filesystem."""
    spec = sts.spec = sts.spec or StatefulSetSpec()
    if spec.replicas is None:
        spec.replicas = 1
    if not spec.podManagementPolicy:
        spec.podManagementPolicy = "OrderedReady"
    st = spec.updateStrategy = spec.updateStrategy or StatefulSetUpdateStrategy()
    if not st.type:
        st.type = "RollingUpdate"
    if st.type == "RollingUpdate":
        ru = st.rollingUpdate = st.rollingUpdate or RollingUpdateStatefulSetStrategy()
        if ru.partition is None:
            ru.partition = 0
    if spec.revisionHistoryLimit is None:
        spec.revisionHistoryLimit = 10
    policy = spec.persistentVolumeClaimRetentionPolicy = (
        spec.persistentVolumeClaimRetentionPolicy or StatefulSetPersistentVolumeClaimRetentionPolicy())
    policy.whenDeleted = policy.whenDeleted or "Retain"
    policy.whenScaled = policy.whenScaled or "Retain"
    for claim in spec.volumeClaimTemplates or []:
        _default_pvc(claim)
    default_pod_template(spec.template)


def _default_pvc(pvc: PersistentVolumeClaim) -> None:
    if pvc.spec is not None and pvc.spec.volumeMode is None:
        pvc.spec.volumeMode = "Filesystem"
    if pvc.spec is not None and pvc.spec.resources is not None:
        _normalize_resources(pvc.spec.resources.requests)
        _normalize_resources(pvc.spec.resources.limits)


def _default_pv(pv: PersistentVolume) -> None:
    if pv.spec is not None:
        if pv.spec.persistentVolumeReclaimPolicy is None:
            pv.spec.persistentVolumeReclaimPolicy = "Retain"
        if pv.spec.volumeMode is None:
            pv.spec.volumeMode = "Filesystem"
        _normalize_resources(pv.spec.capacity)
    if pv.status is None or pv.status.phase is None:
        pv.status = PersistentVolumeStatus(phase="Pending")


def _default_storageclass(sc: StorageClass) -> None:
    if sc.reclaimPolicy is None:
        sc.reclaimPolicy = "Delete"
    if sc.volumeBindingMode is None:
        sc.volumeBindingMode = "Immediate"


def _default_hpa(hpa: HorizontalPodAutoscaler) -> None:
    """SetDefaults_HorizontalPodAutoscaler: minReplicas 1; no metrics means CPU at 80 % of the
    requests; a behavior given in part gets Kubernetes' rules for the rest (scale up at once,
    by 100 % or 4 pods per 15 s, whichever is more; scale down after 300 s of lower
    recommendations, by up to 100 % per 15 s)."""
    spec = hpa.spec = hpa.spec or HorizontalPodAutoscalerSpec()
    if spec.minReplicas is None:
        spec.minReplicas = 1
    if not spec.metrics:
        spec.metrics = [MetricSpec(type="Resource", resource=ResourceMetricSource(
            name="cpu", target=MetricTarget(type="Utilization", averageUtilization=80)))]
    if spec.behavior is not None:
        spec.behavior.scaleUp = default_scaling_rules(spec.behavior.scaleUp, up=True)
        spec.behavior.scaleDown = default_scaling_rules(spec.behavior.scaleDown, up=False)


def default_scaling_rules(rules: HPAScalingRules | None, *, up: bool) -> HPAScalingRules:
    """GenerateHPAScaleUpRules / GenerateHPAScaleDownRules: Kubernetes' rules for what is unset."""
    rules = rules or HPAScalingRules()
    if rules.stabilizationWindowSeconds is None:
        rules.stabilizationWindowSeconds = 0 if up else 300
    if rules.selectPolicy is None:
        rules.selectPolicy = "Max"
    if rules.policies is None:
        rules.policies = [HPAScalingPolicy(type="Percent", value=100, periodSeconds=15)]
        if up:
            rules.policies.append(HPAScalingPolicy(type="Pods", value=4, periodSeconds=15))
    return rules


def _default_job(job: Job) -> None:
    """SetDefaults_Job: completions and parallelism 1 when both are unset (parallelism 1 when
    only it is), backoffLimit 6 (MaxInt32 with backoffLimitPerIndex), completionMode NonIndexed,
    suspend false, podFailurePolicy rules' onPodConditions status True."""
    spec = job.spec = job.spec or JobSpec()
    if spec.completions is None and spec.parallelism is None:
        spec.completions = spec.parallelism = 1
    if spec.parallelism is None:
        spec.parallelism = 1
    if spec.backoffLimit is None:
        # with a per-index limit the Job-wide one is effectively off (Kubernetes: MaxInt32)
        spec.backoffLimit = 2**31 - 1 if spec.backoffLimitPerIndex is not None else 6
    if spec.completionMode is None:
        spec.completionMode = "NonIndexed"
    if spec.suspend is None:
        spec.suspend = False
    if spec.manualSelector is None:
        spec.manualSelector = False
    if spec.podReplacementPolicy is None:
        spec.podReplacementPolicy = "Failed" if spec.podFailurePolicy is not None else "TerminatingOrFailed"
    for rule in (spec.podFailurePolicy.rules or []) if spec.podFailurePolicy else []:
        for pattern in rule.onPodConditions or []:
            if pattern.status is None:
                pattern.status = "True"
    default_pod_template(spec.template)


def _default_cronjob(cj: CronJob) -> None:
    """SetDefaults_CronJob: concurrencyPolicy Allow, suspend false, keep 3 succeeded and 1 failed
    Job; the job template as a Job's (without the completions/parallelism default, as Kubernetes)."""
    spec = cj.spec = cj.spec or CronJobSpec()
    if spec.concurrencyPolicy is None:
        spec.concurrencyPolicy = "Allow"
    if spec.suspend is None:
        spec.suspend = False
    if spec.successfulJobsHistoryLimit is None:
        spec.successfulJobsHistoryLimit = 3
    if spec.failedJobsHistoryLimit is None:
        spec.failedJobsHistoryLimit = 1
    if spec.jobTemplate is not None and spec.jobTemplate.spec is not None:
        default_pod_template(spec.jobTemplate.spec.template)


def _default_secret(s: Secret) -> None:
    if not s.type:
        s.type = "Opaque"


def _default_namespace(ns: Namespace) -> None:
    meta = ns.metadata
    if meta.name:
        labels = meta.labels
        if labels is None:
            meta.labels = {NAMESPACE_NAME_LABEL: meta.name}
        elif labels.get(NAMESPACE_NAME_LABEL) != meta.name:
            labels[NAMESPACE_NAME_LABEL] = meta.name
    st = ns.status
    if st is None:
        ns.status = NamespaceStatus(phase="Active")
    elif not st.phase:
        st.phase = "Active"
    # Kubernetes adds the "kubernetes" finalizer on create (namespace strategy),
    # not in defaulting, because the namespace controller removes it while
    # deleting. Here: add it only when no finalizers were given at all and the
    # namespace is not being deleted, so a finalize call that empties the list
    # ([] or an omitted list on a terminating namespace) is never undone.
    if meta.deletionTimestamp is None:
        spec = ns.spec
        if spec is None:
            ns.spec = NamespaceSpec(finalizers=[NAMESPACE_FINALIZER])
        elif spec.finalizers is None:
            spec.finalizers = [NAMESPACE_FINALIZER]


def _default_node(node: Node) -> None:
    st = node.status
    if st is not None:
        _normalize_resources(st.capacity)
        _normalize_resources(st.allocatable)
        if st.allocatable is None and st.capacity is not None:
            st.allocatable = dict(st.capacity)


def _default_endpoints(ep: Endpoints) -> None:
    if ep.subsets:
        for ss in ep.subsets:
            if ss.ports:
                for p in ss.ports:
                    if not p.protocol:
                        p.protocol = "TCP"


def _noop(obj: Object) -> None:
    pass


def _default_crd(crd: CustomResourceDefinition) -> None:
    """apiextensions' defaults: singular and listKind from the kind, conversion strategy None,
    and the cleanup finalizer (the apiserver deletes the custom objects before the CRD goes)."""
    from kubelite.api.apiextensions_v1 import CustomResourceConversion

    spec = crd.spec
    if spec is not None and spec.names is not None and spec.names.kind:
        spec.names.singular = spec.names.singular or spec.names.kind.lower()
        spec.names.listKind = spec.names.listKind or spec.names.kind + "List"
    if spec is not None:
        spec.conversion = spec.conversion or CustomResourceConversion(strategy="None")
    if crd.metadata.deletionTimestamp is None and CRD_CLEANUP not in (crd.metadata.finalizers or []):
        crd.metadata.finalizers = [*(crd.metadata.finalizers or []), CRD_CLEANUP]


CRD_CLEANUP = "customresourcecleanup.apiextensions.k8s.io"


# type -> (apiVersion, kind, defaulter)
_DEFAULTERS: dict[type, tuple[str, str, Callable]] = {
    Pod: ("v1", "Pod", _default_pod),
    Service: ("v1", "Service", _default_service),
    Endpoints: ("v1", "Endpoints", _default_endpoints),
    Namespace: ("v1", "Namespace", _default_namespace),
    Node: ("v1", "Node", _default_node),
    ConfigMap: ("v1", "ConfigMap", _noop),
    Secret: ("v1", "Secret", _default_secret),
    Event: ("v1", "Event", _noop),  # Kubernetes defines no Event defaults
    Binding: ("v1", "Binding", _noop),
    Deployment: ("apps/v1", "Deployment", _default_deployment),
    ReplicaSet: ("apps/v1", "ReplicaSet", _default_replicaset),
    ReplicationController: ("v1", "ReplicationController", _default_replication_controller),
    DaemonSet: ("apps/v1", "DaemonSet", _default_daemonset),
    StatefulSet: ("apps/v1", "StatefulSet", _default_statefulset),
    ControllerRevision: ("apps/v1", "ControllerRevision", _noop),
    PersistentVolumeClaim: ("v1", "PersistentVolumeClaim", _default_pvc),
    PersistentVolume: ("v1", "PersistentVolume", _default_pv),
    StorageClass: ("storage.k8s.io/v1", "StorageClass", _default_storageclass),
    PodDisruptionBudget: ("policy/v1", "PodDisruptionBudget", _noop),
    HorizontalPodAutoscaler: ("autoscaling/v2", "HorizontalPodAutoscaler", _default_hpa),
    Job: ("batch/v1", "Job", _default_job),
    CronJob: ("batch/v1", "CronJob", _default_cronjob),
    Lease: ("coordination.k8s.io/v1", "Lease", _noop),
    CustomResourceDefinition: ("apiextensions.k8s.io/v1", "CustomResourceDefinition", _default_crd),
}


def register_defaulter(tp: type, api_version: str, kind: str, fn: Callable) -> None:
    """A defaulter for a type made at run time (a custom resource's: kubelite.api.crd)."""
    _DEFAULTERS[tp] = (api_version, kind, fn)


def unregister_defaulter(tp: type) -> None:
    _DEFAULTERS.pop(tp, None)


def apply_defaults(obj: Object) -> None:
    """Fill in Kubernetes' defaults on `obj`, in place; user-set values are kept.

    Also sets `apiVersion`/`kind` when they are missing. Unknown types are left
    untouched.
    """
    entry = _DEFAULTERS.get(type(obj))
    if entry is None:
        return
    if obj.apiVersion is None:
        obj.apiVersion = entry[0]
    if obj.kind is None:
        obj.kind = entry[1]
    entry[2](obj)
