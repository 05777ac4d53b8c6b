"""core/v1 kinds: Namespace, Node, Pod, Service, Endpoints, ConfigMap, Secret, Event, Binding,
PersistentVolumeClaim, PersistentVolume.

Field names are the Kubernetes JSON names (k8s.io/api/core/v1/types.go). Every
field is optional (default None), including those Kubernetes requires, so a
missing required field reaches validation (which reports "Required value" with
its path) instead of failing the decode. Lists and maps default to None, never
to an empty container, so encoding stays sparse.

Timestamps are RFC3339 strings; quantities are `QuantityValue` (numbers from
YAML are normalised to strings by `kubelite.api.defaults`); Secret `data`
values are base64 strings, as on the wire.

A few rarely used, deeply nested parts of the schema are typed loosely
(`dict[str, Any]`) so that manifests using them still decode.
"""

from typing import Any

from kubelite.api.base import IntOrString, Model, QuantityValue
from kubelite.api.meta import Condition, Object, ObjectMeta
from kubelite.api.scheme import ResourceInfo, register

ResourceList = dict[str, QuantityValue]

# --------------------------------------------------------------------------
# Shared small types
# --------------------------------------------------------------------------


class LabelSelectorRequirement(Model):
    key: str | None = None
    operator: str | None = None  # In | NotIn | Exists | DoesNotExist
    values: list[str] | None = None


class LabelSelector(Model):
    """metav1.LabelSelector."""

    matchLabels: dict[str, str] | None = None
    matchExpressions: list[LabelSelectorRequirement] | None = None


# The helper name the brief asks every group module to expose.
LABEL_SELECTOR = LabelSelector


class ObjectReference(Model):
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None
    apiVersion: str | None = None
    resourceVersion: str | None = None
    fieldPath: str | None = None


class LocalObjectReference(Model):
    name: str | None = None


class TypedLocalObjectReference(Model):
    apiGroup: str | None = None
    kind: str | None = None
    name: str | None = None


class KeyToPath(Model):
    key: str | None = None
    path: str | None = None
    mode: int | None = None


class ObjectFieldSelector(Model):
    apiVersion: str | None = None  # defaulted to "v1"
    fieldPath: str | None = None


class ResourceFieldSelector(Model):
    containerName: str | None = None
    resource: str | None = None
    divisor: QuantityValue | None = None


# --------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------


class ConfigMapKeySelector(Model):
    name: str | None = None
    key: str | None = None
    optional: bool | None = None


class SecretKeySelector(Model):
    name: str | None = None
    key: str | None = None
    optional: bool | None = None


class FileKeySelector(Model):
    volumeName: str | None = None
    path: str | None = None
    key: str | None = None
    optional: bool | None = None


class EnvVarSource(Model):
    fieldRef: ObjectFieldSelector | None = None
    resourceFieldRef: ResourceFieldSelector | None = None
    configMapKeyRef: ConfigMapKeySelector | None = None
    secretKeyRef: SecretKeySelector | None = None
    fileKeyRef: FileKeySelector | None = None


class EnvVar(Model):
    name: str | None = None
    value: str | None = None
    valueFrom: EnvVarSource | None = None


class ConfigMapEnvSource(Model):
    name: str | None = None
    optional: bool | None = None


class SecretEnvSource(Model):
    name: str | None = None
    optional: bool | None = None


class EnvFromSource(Model):
    prefix: str | None = None
    configMapRef: ConfigMapEnvSource | None = None
    secretRef: SecretEnvSource | None = None


class ContainerPort(Model):
    name: str | None = None
    hostPort: int | None = None
    containerPort: int | None = None
    protocol: str | None = None  # TCP | UDP | SCTP, defaulted to TCP
    hostIP: str | None = None


class ResourceClaim(Model):
    name: str | None = None
    request: str | None = None


class ResourceRequirements(Model):
    limits: ResourceList | None = None
    requests: ResourceList | None = None
    claims: list[ResourceClaim] | None = None


class ContainerResizePolicy(Model):
    resourceName: str | None = None
    restartPolicy: str | None = None


class VolumeMount(Model):
    name: str | None = None
    readOnly: bool | None = None
    recursiveReadOnly: str | None = None
    mountPath: str | None = None
    subPath: str | None = None
    mountPropagation: str | None = None
    subPathExpr: str | None = None


class VolumeDevice(Model):
    name: str | None = None
    devicePath: str | None = None


class ExecAction(Model):
    command: list[str] | None = None


class HTTPHeader(Model):
    name: str | None = None
    value: str | None = None


class HTTPGetAction(Model):
    path: str | None = None  # defaulted to "/"
    port: IntOrString | None = None
    host: str | None = None
    scheme: str | None = None  # HTTP | HTTPS, defaulted to HTTP
    httpHeaders: list[HTTPHeader] | None = None


class TCPSocketAction(Model):
    port: IntOrString | None = None
    host: str | None = None


class GRPCAction(Model):
    port: int | None = None
    service: str | None = None


class SleepAction(Model):
    seconds: int | None = None


class Probe(Model):
    exec: ExecAction | None = None
    httpGet: HTTPGetAction | None = None
    tcpSocket: TCPSocketAction | None = None
    grpc: GRPCAction | None = None
    initialDelaySeconds: int | None = None
    timeoutSeconds: int | None = None
    periodSeconds: int | None = None
    successThreshold: int | None = None
    failureThreshold: int | None = None
    terminationGracePeriodSeconds: int | None = None


class LifecycleHandler(Model):
    exec: ExecAction | None = None
    httpGet: HTTPGetAction | None = None
    tcpSocket: TCPSocketAction | None = None
    sleep: SleepAction | None = None


class Lifecycle(Model):
    postStart: LifecycleHandler | None = None
    preStop: LifecycleHandler | None = None
    stopSignal: str | None = None


class Capabilities(Model):
    add: list[str] | None = None
    drop: list[str] | None = None


class SELinuxOptions(Model):
    user: str | None = None
    role: str | None = None
    type: str | None = None
    level: str | None = None


class WindowsSecurityContextOptions(Model):
    gmsaCredentialSpecName: str | None = None
    gmsaCredentialSpec: str | None = None
    runAsUserName: str | None = None
    hostProcess: bool | None = None


class SeccompProfile(Model):
    type: str | None = None
    localhostProfile: str | None = None


class AppArmorProfile(Model):
    type: str | None = None
    localhostProfile: str | None = None


class SecurityContext(Model):
    capabilities: Capabilities | None = None
    privileged: bool | None = None
    seLinuxOptions: SELinuxOptions | None = None
    windowsOptions: WindowsSecurityContextOptions | None = None
    runAsUser: int | None = None
    runAsGroup: int | None = None
    runAsNonRoot: bool | None = None
    readOnlyRootFilesystem: bool | None = None
    allowPrivilegeEscalation: bool | None = None
    procMount: str | None = None
    seccompProfile: SeccompProfile | None = None
    appArmorProfile: AppArmorProfile | None = None


class Sysctl(Model):
    name: str | None = None
    value: str | None = None


class PodSecurityContext(Model):
    seLinuxOptions: SELinuxOptions | None = None
    windowsOptions: WindowsSecurityContextOptions | None = None
    runAsUser: int | None = None
    runAsGroup: int | None = None
    runAsNonRoot: bool | None = None
    supplementalGroups: list[int] | None = None
    supplementalGroupsPolicy: str | None = None
    fsGroup: int | None = None
    sysctls: list[Sysctl] | None = None
    fsGroupChangePolicy: str | None = None
    seccompProfile: SeccompProfile | None = None
    appArmorProfile: AppArmorProfile | None = None
    seLinuxChangePolicy: str | None = None


class Container(Model):
    name: str | None = None
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    workingDir: str | None = None
    ports: list[ContainerPort] | None = None
    envFrom: list[EnvFromSource] | None = None
    env: list[EnvVar] | None = None
    resources: ResourceRequirements | None = None
    resizePolicy: list[ContainerResizePolicy] | None = None
    restartPolicy: str | None = None  # init containers only: "Always" makes a sidecar
    restartPolicyRules: list[dict[str, Any]] | None = None
    volumeMounts: list[VolumeMount] | None = None
    volumeDevices: list[VolumeDevice] | None = None
    livenessProbe: Probe | None = None
    readinessProbe: Probe | None = None
    startupProbe: Probe | None = None
    lifecycle: Lifecycle | None = None
    terminationMessagePath: str | None = None
    terminationMessagePolicy: str | None = None  # File | FallbackToLogsOnError
    imagePullPolicy: str | None = None  # Always | Never | IfNotPresent
    securityContext: SecurityContext | None = None
    stdin: bool | None = None
    stdinOnce: bool | None = None
    tty: bool | None = None


class EphemeralContainer(Container):
    targetContainerName: str | None = None


# --------------------------------------------------------------------------
# Volumes
# --------------------------------------------------------------------------


class HostPathVolumeSource(Model):
    path: str | None = None
    type: str | None = None


class EmptyDirVolumeSource(Model):
    medium: str | None = None
    sizeLimit: QuantityValue | None = None


class SecretVolumeSource(Model):
    secretName: str | None = None
    items: list[KeyToPath] | None = None
    defaultMode: int | None = None
    optional: bool | None = None


class ConfigMapVolumeSource(Model):
    name: str | None = None
    items: list[KeyToPath] | None = None
    defaultMode: int | None = None
    optional: bool | None = None


class PersistentVolumeClaimVolumeSource(Model):
    claimName: str | None = None
    readOnly: bool | None = None


class DownwardAPIVolumeFile(Model):
    path: str | None = None
    fieldRef: ObjectFieldSelector | None = None
    resourceFieldRef: ResourceFieldSelector | None = None
    mode: int | None = None


class DownwardAPIVolumeSource(Model):
    items: list[DownwardAPIVolumeFile] | None = None
    defaultMode: int | None = None


class DownwardAPIProjection(Model):
    items: list[DownwardAPIVolumeFile] | None = None


class SecretProjection(Model):
    name: str | None = None
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class ConfigMapProjection(Model):
    name: str | None = None
    items: list[KeyToPath] | None = None
    optional: bool | None = None


class ServiceAccountTokenProjection(Model):
    audience: str | None = None
    expirationSeconds: int | None = None
    path: str | None = None


class VolumeProjection(Model):
    secret: SecretProjection | None = None
    downwardAPI: DownwardAPIProjection | None = None
    configMap: ConfigMapProjection | None = None
    serviceAccountToken: ServiceAccountTokenProjection | None = None
    clusterTrustBundle: dict[str, Any] | None = None
    podCertificate: dict[str, Any] | None = None


class ProjectedVolumeSource(Model):
    sources: list[VolumeProjection] | None = None
    defaultMode: int | None = None


class NFSVolumeSource(Model):
    server: str | None = None
    path: str | None = None
    readOnly: bool | None = None


class ImageVolumeSource(Model):
    reference: str | None = None
    pullPolicy: str | None = None


class Volume(Model):
    name: str | None = None
    hostPath: HostPathVolumeSource | None = None
    emptyDir: EmptyDirVolumeSource | None = None
    secret: SecretVolumeSource | None = None
    configMap: ConfigMapVolumeSource | None = None
    persistentVolumeClaim: PersistentVolumeClaimVolumeSource | None = None
    projected: ProjectedVolumeSource | None = None
    downwardAPI: DownwardAPIVolumeSource | None = None
    nfs: NFSVolumeSource | None = None
    image: ImageVolumeSource | None = None
    # Loosely typed: accepted so manifests decode, not acted upon by kubelite.
    csi: dict[str, Any] | None = None
    ephemeral: dict[str, Any] | None = None


# --------------------------------------------------------------------------
# Scheduling: affinity, tolerations, spread
# --------------------------------------------------------------------------


class NodeSelectorRequirement(Model):
    key: str | None = None
    operator: str | None = None  # In | NotIn | Exists | DoesNotExist | Gt | Lt
    values: list[str] | None = None


class NodeSelectorTerm(Model):
    matchExpressions: list[NodeSelectorRequirement] | None = None
    matchFields: list[NodeSelectorRequirement] | None = None


class NodeSelector(Model):
    nodeSelectorTerms: list[NodeSelectorTerm] | None = None


class PreferredSchedulingTerm(Model):
    weight: int | None = None
    preference: NodeSelectorTerm | None = None


class NodeAffinity(Model):
    requiredDuringSchedulingIgnoredDuringExecution: NodeSelector | None = None
    preferredDuringSchedulingIgnoredDuringExecution: list[PreferredSchedulingTerm] | None = None


class PodAffinityTerm(Model):
    labelSelector: LabelSelector | None = None
    namespaces: list[str] | None = None
    topologyKey: str | None = None
    namespaceSelector: LabelSelector | None = None
    matchLabelKeys: list[str] | None = None
    mismatchLabelKeys: list[str] | None = None


class WeightedPodAffinityTerm(Model):
    weight: int | None = None
    podAffinityTerm: PodAffinityTerm | None = None


class PodAffinity(Model):
    requiredDuringSchedulingIgnoredDuringExecution: list[PodAffinityTerm] | None = None
    preferredDuringSchedulingIgnoredDuringExecution: list[WeightedPodAffinityTerm] | None = None


class PodAntiAffinity(Model):
    requiredDuringSchedulingIgnoredDuringExecution: list[PodAffinityTerm] | None = None
    preferredDuringSchedulingIgnoredDuringExecution: list[WeightedPodAffinityTerm] | None = None


class Affinity(Model):
    nodeAffinity: NodeAffinity | None = None
    podAffinity: PodAffinity | None = None
    podAntiAffinity: PodAntiAffinity | None = None


class Toleration(Model):
    key: str | None = None
    operator: str | None = None  # Exists | Equal
    value: str | None = None
    effect: str | None = None  # NoSchedule | PreferNoSchedule | NoExecute
    tolerationSeconds: int | None = None


class TopologySpreadConstraint(Model):
    maxSkew: int | None = None
    topologyKey: str | None = None
    whenUnsatisfiable: str | None = None
    labelSelector: LabelSelector | None = None
    minDomains: int | None = None
    nodeAffinityPolicy: str | None = None
    nodeTaintsPolicy: str | None = None
    matchLabelKeys: list[str] | None = None


class HostAlias(Model):
    ip: str | None = None
    hostnames: list[str] | None = None


class PodDNSConfigOption(Model):
    name: str | None = None
    value: str | None = None


class PodDNSConfig(Model):
    nameservers: list[str] | None = None
    searches: list[str] | None = None
    options: list[PodDNSConfigOption] | None = None


class PodReadinessGate(Model):
    conditionType: str | None = None


class PodOS(Model):
    name: str | None = None


class PodSchedulingGate(Model):
    name: str | None = None


class PodResourceClaim(Model):
    name: str | None = None
    resourceClaimName: str | None = None
    resourceClaimTemplateName: str | None = None


# --------------------------------------------------------------------------
# Pod
# --------------------------------------------------------------------------


class PodSpec(Model):
    volumes: list[Volume] | None = None
    initContainers: list[Container] | None = None
    containers: list[Container] | None = None
    ephemeralContainers: list[EphemeralContainer] | None = None
    restartPolicy: str | None = None  # Always | OnFailure | Never
    terminationGracePeriodSeconds: int | None = None
    activeDeadlineSeconds: int | None = None
    dnsPolicy: str | None = None
    nodeSelector: dict[str, str] | None = None
    serviceAccountName: str | None = None
    serviceAccount: str | None = None  # deprecated alias of serviceAccountName
    automountServiceAccountToken: bool | None = None
    nodeName: str | None = None
    hostNetwork: bool | None = None
    hostPID: bool | None = None
    hostIPC: bool | None = None
    shareProcessNamespace: bool | None = None
    securityContext: PodSecurityContext | None = None
    imagePullSecrets: list[LocalObjectReference] | None = None
    hostname: str | None = None
    subdomain: str | None = None
    affinity: Affinity | None = None
    schedulerName: str | None = None
    tolerations: list[Toleration] | None = None
    hostAliases: list[HostAlias] | None = None
    priorityClassName: str | None = None
    priority: int | None = None
    dnsConfig: PodDNSConfig | None = None
    readinessGates: list[PodReadinessGate] | None = None
    runtimeClassName: str | None = None
    enableServiceLinks: bool | None = None
    preemptionPolicy: str | None = None
    overhead: ResourceList | None = None
    topologySpreadConstraints: list[TopologySpreadConstraint] | None = None
    setHostnameAsFQDN: bool | None = None
    os: PodOS | None = None
    hostUsers: bool | None = None
    schedulingGates: list[PodSchedulingGate] | None = None
    resourceClaims: list[PodResourceClaim] | None = None
    resources: ResourceRequirements | None = None
    hostnameOverride: str | None = None


class PodTemplateSpec(Model):
    metadata: ObjectMeta | None = None
    spec: PodSpec | None = None


class PodCondition(Model):
    type: str | None = None  # PodScheduled | Initialized | ContainersReady | Ready | ...
    observedGeneration: int | None = None
    status: str | None = None  # True | False | Unknown
    lastProbeTime: str | None = None
    lastTransitionTime: str | None = None
    reason: str | None = None
    message: str | None = None


class ContainerStateWaiting(Model):
    reason: str | None = None
    message: str | None = None


class ContainerStateRunning(Model):
    startedAt: str | None = None


class ContainerStateTerminated(Model):
    exitCode: int | None = None
    signal: int | None = None
    reason: str | None = None
    message: str | None = None
    startedAt: str | None = None
    finishedAt: str | None = None
    containerID: str | None = None


class ContainerState(Model):
    waiting: ContainerStateWaiting | None = None
    running: ContainerStateRunning | None = None
    terminated: ContainerStateTerminated | None = None


class VolumeMountStatus(Model):
    name: str | None = None
    mountPath: str | None = None
    readOnly: bool | None = None
    recursiveReadOnly: str | None = None


class ContainerStatus(Model):
    name: str | None = None
    state: ContainerState | None = None
    lastState: ContainerState | None = None
    ready: bool | None = None
    restartCount: int | None = None
    image: str | None = None
    imageID: str | None = None
    containerID: str | None = None
    started: bool | None = None
    allocatedResources: ResourceList | None = None
    resources: ResourceRequirements | None = None
    volumeMounts: list[VolumeMountStatus] | None = None
    user: dict[str, Any] | None = None
    allocatedResourcesStatus: list[dict[str, Any]] | None = None
    stopSignal: str | None = None


class PodIP(Model):
    ip: str | None = None


class HostIP(Model):
    ip: str | None = None


class PodStatus(Model):
    observedGeneration: int | None = None
    phase: str | None = None  # Pending | Running | Succeeded | Failed | Unknown
    conditions: list[PodCondition] | None = None
    message: str | None = None
    reason: str | None = None
    nominatedNodeName: str | None = None
    hostIP: str | None = None
    hostIPs: list[HostIP] | None = None
    podIP: str | None = None
    podIPs: list[PodIP] | None = None
    startTime: str | None = None
    initContainerStatuses: list[ContainerStatus] | None = None
    containerStatuses: list[ContainerStatus] | None = None
    qosClass: str | None = None  # Guaranteed | Burstable | BestEffort
    ephemeralContainerStatuses: list[ContainerStatus] | None = None
    resize: str | None = None
    resourceClaimStatuses: list[dict[str, Any]] | None = None


class Pod(Object):
    spec: PodSpec | None = None
    status: PodStatus | None = None


# --------------------------------------------------------------------------
# Binding (pods/binding subresource; also the core/v1 "bindings" resource)
# --------------------------------------------------------------------------


class Binding(Object):
    target: ObjectReference | None = None


# --------------------------------------------------------------------------
# Service
# --------------------------------------------------------------------------


class ServicePort(Model):
    name: str | None = None
    protocol: str | None = None  # TCP | UDP | SCTP, defaulted to TCP
    appProtocol: str | None = None
    port: int | None = None
    targetPort: IntOrString | None = None  # defaulted to port
    nodePort: int | None = None


class ClientIPConfig(Model):
    timeoutSeconds: int | None = None


class SessionAffinityConfig(Model):
    clientIP: ClientIPConfig | None = None


class ServiceSpec(Model):
    ports: list[ServicePort] | None = None
    selector: dict[str, str] | None = None
    clusterIP: str | None = None
    clusterIPs: list[str] | None = None
    type: str | None = None  # ClusterIP | NodePort | LoadBalancer | ExternalName
    externalIPs: list[str] | None = None
    sessionAffinity: str | None = None  # None | ClientIP
    loadBalancerIP: str | None = None
    loadBalancerSourceRanges: list[str] | None = None
    externalName: str | None = None
    externalTrafficPolicy: str | None = None  # Cluster | Local
    healthCheckNodePort: int | None = None
    publishNotReadyAddresses: bool | None = None
    sessionAffinityConfig: SessionAffinityConfig | None = None
    ipFamilies: list[str] | None = None
    ipFamilyPolicy: str | None = None  # SingleStack | PreferDualStack | RequireDualStack
    allocateLoadBalancerNodePorts: bool | None = None
    loadBalancerClass: str | None = None
    internalTrafficPolicy: str | None = None  # Cluster | Local
    trafficDistribution: str | None = None


class PortStatus(Model):
    port: int | None = None
    protocol: str | None = None
    error: str | None = None


class LoadBalancerIngress(Model):
    ip: str | None = None
    hostname: str | None = None
    ipMode: str | None = None
    ports: list[PortStatus] | None = None


class LoadBalancerStatus(Model):
    ingress: list[LoadBalancerIngress] | None = None


class ServiceStatus(Model):
    loadBalancer: LoadBalancerStatus | None = None
    conditions: list[Condition] | None = None


class Service(Object):
    spec: ServiceSpec | None = None
    status: ServiceStatus | None = None


# --------------------------------------------------------------------------
# Endpoints
# --------------------------------------------------------------------------


class EndpointAddress(Model):
    ip: str | None = None
    hostname: str | None = None
    nodeName: str | None = None
    targetRef: ObjectReference | None = None


class EndpointPort(Model):
    name: str | None = None
    port: int | None = None
    protocol: str | None = None  # defaulted to TCP
    appProtocol: str | None = None


class EndpointSubset(Model):
    addresses: list[EndpointAddress] | None = None
    notReadyAddresses: list[EndpointAddress] | None = None
    ports: list[EndpointPort] | None = None


class Endpoints(Object):
    subsets: list[EndpointSubset] | None = None


# --------------------------------------------------------------------------
# Node
# --------------------------------------------------------------------------


class Taint(Model):
    key: str | None = None
    value: str | None = None
    effect: str | None = None  # NoSchedule | PreferNoSchedule | NoExecute
    timeAdded: str | None = None


class NodeSpec(Model):
    podCIDR: str | None = None
    podCIDRs: list[str] | None = None
    providerID: str | None = None
    unschedulable: bool | None = None
    taints: list[Taint] | None = None
    configSource: dict[str, Any] | None = None
    externalID: str | None = None


class NodeCondition(Model):
    type: str | None = None  # Ready | MemoryPressure | DiskPressure | PIDPressure | NetworkUnavailable
    status: str | None = None
    lastHeartbeatTime: str | None = None
    lastTransitionTime: str | None = None
    reason: str | None = None
    message: str | None = None


class NodeAddress(Model):
    type: str | None = None  # Hostname | InternalIP | ExternalIP | InternalDNS | ExternalDNS
    address: str | None = None


class DaemonEndpoint(Model):
    Port: int | None = None  # capitalised on the wire, as in Kubernetes


class NodeDaemonEndpoints(Model):
    kubeletEndpoint: DaemonEndpoint | None = None


class NodeSwapStatus(Model):
    capacity: int | None = None


class NodeSystemInfo(Model):
    machineID: str | None = None
    systemUUID: str | None = None
    bootID: str | None = None
    kernelVersion: str | None = None
    osImage: str | None = None
    containerRuntimeVersion: str | None = None
    kubeletVersion: str | None = None
    kubeProxyVersion: str | None = None
    operatingSystem: str | None = None
    architecture: str | None = None
    swap: NodeSwapStatus | None = None


class ContainerImage(Model):
    names: list[str] | None = None
    sizeBytes: int | None = None


class AttachedVolume(Model):
    name: str | None = None
    devicePath: str | None = None


class NodeStatus(Model):
    capacity: ResourceList | None = None
    allocatable: ResourceList | None = None
    phase: str | None = None
    conditions: list[NodeCondition] | None = None
    addresses: list[NodeAddress] | None = None
    daemonEndpoints: NodeDaemonEndpoints | None = None
    nodeInfo: NodeSystemInfo | None = None
    images: list[ContainerImage] | None = None
    volumesInUse: list[str] | None = None
    volumesAttached: list[AttachedVolume] | None = None
    config: dict[str, Any] | None = None
    runtimeHandlers: list[dict[str, Any]] | None = None
    features: dict[str, Any] | None = None
    declaredFeatures: list[str] | None = None


class Node(Object):
    spec: NodeSpec | None = None
    status: NodeStatus | None = None


# --------------------------------------------------------------------------
# Namespace
# --------------------------------------------------------------------------


class NamespaceSpec(Model):
    finalizers: list[str] | None = None


class NamespaceCondition(Model):
    type: str | None = None
    status: str | None = None
    lastTransitionTime: str | None = None
    reason: str | None = None
    message: str | None = None


class NamespaceStatus(Model):
    phase: str | None = None  # Active | Terminating
    conditions: list[NamespaceCondition] | None = None


class Namespace(Object):
    spec: NamespaceSpec | None = None
    status: NamespaceStatus | None = None


# --------------------------------------------------------------------------
# ConfigMap, Secret
# --------------------------------------------------------------------------


class ConfigMap(Object):
    data: dict[str, str] | None = None
    binaryData: dict[str, str] | None = None  # base64 strings on the wire
    immutable: bool | None = None


class Secret(Object):
    data: dict[str, str] | None = None  # base64 strings on the wire
    stringData: dict[str, str] | None = None  # write-only plain text
    type: str | None = None  # defaulted to Opaque
    immutable: bool | None = None


# --------------------------------------------------------------------------
# Event
# --------------------------------------------------------------------------


class EventSource(Model):
    component: str | None = None
    host: str | None = None


class EventSeries(Model):
    count: int | None = None
    lastObservedTime: str | None = None


class Event(Object):
    involvedObject: ObjectReference | None = None
    reason: str | None = None
    message: str | None = None
    source: EventSource | None = None
    firstTimestamp: str | None = None
    lastTimestamp: str | None = None
    count: int | None = None
    type: str | None = None  # Normal | Warning
    eventTime: str | None = None  # MicroTime (RFC3339 with microseconds)
    series: EventSeries | None = None
    action: str | None = None
    related: ObjectReference | None = None
    reportingComponent: str | None = None
    reportingInstance: str | None = None


# --------------------------------------------------------------------------
# Storage: PersistentVolumeClaim, PersistentVolume
# --------------------------------------------------------------------------


class VolumeResourceRequirements(Model):
    limits: ResourceList | None = None
    requests: ResourceList | None = None


class PersistentVolumeClaimSpec(Model):
    accessModes: list[str] | None = None  # ReadWriteOnce | ReadOnlyMany | ReadWriteMany | ReadWriteOncePod
    selector: LabelSelector | None = None
    resources: VolumeResourceRequirements | None = None
    volumeName: str | None = None
    storageClassName: str | None = None
    volumeMode: str | None = None  # Filesystem | Block
    dataSource: TypedLocalObjectReference | None = None
    dataSourceRef: dict[str, Any] | None = None
    volumeAttributesClassName: str | None = None


class PersistentVolumeClaimCondition(Model):
    type: str | None = None
    status: str | None = None
    lastProbeTime: str | None = None
    lastTransitionTime: str | None = None
    reason: str | None = None
    message: str | None = None


class PersistentVolumeClaimStatus(Model):
    phase: str | None = None  # Pending | Bound | Lost
    accessModes: list[str] | None = None
    capacity: ResourceList | None = None
    conditions: list[PersistentVolumeClaimCondition] | None = None
    allocatedResources: ResourceList | None = None
    allocatedResourceStatuses: dict[str, str] | None = None
    currentVolumeAttributesClassName: str | None = None
    modifyVolumeStatus: dict[str, Any] | None = None


class PersistentVolumeClaim(Object):
    spec: PersistentVolumeClaimSpec | None = None
    status: PersistentVolumeClaimStatus | None = None


class LocalVolumeSource(Model):
    path: str | None = None
    fsType: str | None = None


class VolumeNodeAffinity(Model):
    required: NodeSelector | None = None


class PersistentVolumeSpec(Model):
    capacity: ResourceList | None = None
    accessModes: list[str] | None = None
    claimRef: ObjectReference | None = None
    persistentVolumeReclaimPolicy: str | None = None  # Retain | Delete | Recycle
    storageClassName: str | None = None
    mountOptions: list[str] | None = None
    volumeMode: str | None = None
    nodeAffinity: VolumeNodeAffinity | None = None
    volumeAttributesClassName: str | None = None
    hostPath: HostPathVolumeSource | None = None
    local: LocalVolumeSource | None = None
    nfs: NFSVolumeSource | None = None
    csi: dict[str, Any] | None = None


class PersistentVolumeStatus(Model):
    phase: str | None = None  # Pending | Available | Bound | Released | Failed
    message: str | None = None
    reason: str | None = None
    lastPhaseTransitionTime: str | None = None


class PersistentVolume(Object):
    spec: PersistentVolumeSpec | None = None
    status: PersistentVolumeStatus | None = None


# --------------------------------------------------------------------------
# Registration
# --------------------------------------------------------------------------

_ALL_CATEGORY = ("all",)

NAMESPACES = register(ResourceInfo(
    group="", version="v1", kind="Namespace", plural="namespaces", singular="namespace",
    namespaced=False, type=Namespace, short_names=("ns",),
    subresources=("status", "finalize"),
))
NODES = register(ResourceInfo(
    group="", version="v1", kind="Node", plural="nodes", singular="node",
    namespaced=False, type=Node, short_names=("no",), subresources=("status",),
))
PODS = register(ResourceInfo(
    group="", version="v1", kind="Pod", plural="pods", singular="pod",
    namespaced=True, type=Pod, short_names=("po",),
    subresources=("status", "binding", "log", "exec", "attach", "portforward", "eviction", "proxy",
                  "ephemeralcontainers"),
    categories=_ALL_CATEGORY,
))
class ReplicationControllerSpec(Model):
    replicas: int | None = None  # defaulted to 1
    minReadySeconds: int | None = None
    selector: dict[str, str] | None = None  # a plain label map (defaulted to the template's labels)
    template: PodTemplateSpec | None = None


class ReplicationControllerCondition(Model):
    type: str | None = None  # ReplicaFailure
    status: str | None = None
    lastTransitionTime: str | None = None
    reason: str | None = None
    message: str | None = None


class ReplicationControllerStatus(Model):
    replicas: int | None = None
    fullyLabeledReplicas: int | None = None
    readyReplicas: int | None = None
    availableReplicas: int | None = None
    observedGeneration: int | None = None
    conditions: list[ReplicationControllerCondition] | None = None


class ReplicationController(Object):
    """core/v1 ReplicationController: a ReplicaSet with a label-map selector (the ReplicaSet
    controller runs both, as in Kubernetes)."""

    spec: ReplicationControllerSpec | None = None
    status: ReplicationControllerStatus | None = None


REPLICATIONCONTROLLERS = register(ResourceInfo(
    group="", version="v1", kind="ReplicationController", plural="replicationcontrollers",
    singular="replicationcontroller", namespaced=True, type=ReplicationController, short_names=("rc",),
    subresources=("status", "scale"), categories=_ALL_CATEGORY,
))
SERVICES = register(ResourceInfo(
    group="", version="v1", kind="Service", plural="services", singular="service",
    namespaced=True, type=Service, short_names=("svc",), subresources=("status", "proxy"),
    categories=_ALL_CATEGORY,
))
ENDPOINTS = register(ResourceInfo(
    group="", version="v1", kind="Endpoints", plural="endpoints", singular="endpoints",
    namespaced=True, type=Endpoints, short_names=("ep",), has_spec=False,
))
CONFIGMAPS = register(ResourceInfo(
    group="", version="v1", kind="ConfigMap", plural="configmaps", singular="configmap",
    namespaced=True, type=ConfigMap, short_names=("cm",), has_spec=False,
))
SECRETS = register(ResourceInfo(
    group="", version="v1", kind="Secret", plural="secrets", singular="secret",
    namespaced=True, type=Secret, has_spec=False,
))
EVENTS = register(ResourceInfo(
    group="", version="v1", kind="Event", plural="events", singular="event",
    namespaced=True, type=Event, short_names=("ev",), has_spec=False,
))
BINDINGS = register(ResourceInfo(
    group="", version="v1", kind="Binding", plural="bindings", singular="binding",
    namespaced=True, type=Binding, verbs=("create",), has_spec=False,
))
PERSISTENTVOLUMECLAIMS = register(ResourceInfo(
    group="", version="v1", kind="PersistentVolumeClaim", plural="persistentvolumeclaims",
    singular="persistentvolumeclaim", namespaced=True, type=PersistentVolumeClaim, short_names=("pvc",),
    subresources=("status",),
))
PERSISTENTVOLUMES = register(ResourceInfo(
    group="", version="v1", kind="PersistentVolume", plural="persistentvolumes", singular="persistentvolume",
    namespaced=False, type=PersistentVolume, short_names=("pv",), subresources=("status",),
))
