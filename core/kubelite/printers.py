"""kubectl-like tables: columns per kind, AGE formatting and column alignment (pure)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]
NONE = "<none>"


# --- time ----------------------------------------------------------------------------------


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration, the AGE column of kubectl."""
    secs = int(seconds)
    if secs < -1:
        return "<invalid>"
    if secs < 0:
        return "0s"
    if secs < 60 * 2:
        return f"{secs}s"
    minutes = secs // 60
    if minutes < 10:
        rest = secs % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = secs // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if rest == 0 else f"{years}y{rest}d"
    return f"{hours // 24 // 365}y"


def age(timestamp: str | None, now: datetime) -> str:
    when = parse_time(timestamp)
    if when is None:
        return "<unknown>"
    return human_duration((now - when).total_seconds())


# --- alignment -----------------------------------------------------------------------------


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]], with_header: bool = True) -> str:
    """Left-aligned columns as kubectl's tabwriter prints them (min width 10, padding 3)."""
    lines = [list(header)] if with_header else []
    lines += [list(r) for r in rows]
    if not lines:
        return ""
    widths = [
        max(10, max(len(line[i]) for line in [list(header), *rows]) + 3)
        for i in range(len(header))
    ]
    out = []
    for line in lines:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(line[:-1])] + [line[-1]]
        out.append("".join(cells).rstrip())
    return "\n".join(out)


# --- helpers -------------------------------------------------------------------------------


def _meta(obj: JSON) -> JSON:
    return obj.get("metadata") or {}


def _spec(obj: JSON) -> JSON:
    return obj.get("spec") or {}


def _status(obj: JSON) -> JSON:
    return obj.get("status") or {}


def format_labels(labels: dict[str, str] | None) -> str:
    if not labels:
        return NONE
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def format_selector(selector: JSON | None) -> str:
    """A LabelSelector (or a plain map, as Service uses) as kubectl prints it."""
    if not selector:
        return NONE
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return format_labels(selector)
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, key, values = expr.get("operator"), expr.get("key"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts) or NONE


def _containers(template_spec: JSON) -> tuple[str, str]:
    containers = template_spec.get("containers") or []
    names = ",".join(c.get("name", "") for c in containers) or NONE
    images = ",".join(c.get("image", "") for c in containers) or NONE
    return names, images


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int) else 0


# --- per-kind columns ----------------------------------------------------------------------


def pod_status(pod: JSON) -> tuple[str, int, int, int]:
    """(STATUS, ready containers, total containers, restarts) as kubectl's printPod computes."""
    status, spec = _status(pod), _spec(pod)
    total = len(spec.get("containers") or [])
    reason = status.get("reason") or status.get("phase") or "Pending"
    ready = restarts = 0
    for cs in reversed(status.get("containerStatuses") or []):
        restarts += _int(cs.get("restartCount"))
        state = cs.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated and terminated.get("reason"):
            reason = terminated["reason"]
        elif terminated:
            signal = terminated.get("signal")
            reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode', 0)}"
        elif cs.get("ready") and state.get("running") is not None:
            ready += 1
    if _meta(pod).get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return reason, ready, total, restarts


def _pod_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    reason, ready, total, restarts = pod_status(obj)
    row = [f"{ready}/{total}", reason, str(restarts), age(_meta(obj).get("creationTimestamp"), now)]
    if wide:
        row += [_status(obj).get("podIP") or NONE, _spec(obj).get("nodeName") or NONE]
    return row


def _deployment_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    spec, st = _spec(obj), _status(obj)
    desired = spec.get("replicas", 1)
    row = [
        f"{_int(st.get('readyReplicas'))}/{desired}",
        str(_int(st.get("updatedReplicas"))),
        str(_int(st.get("availableReplicas"))),
        age(_meta(obj).get("creationTimestamp"), now),
    ]
    if wide:
        names, images = _containers(((spec.get("template") or {}).get("spec")) or {})
        row += [names, images, format_selector(spec.get("selector"))]
    return row


def _replicaset_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    spec, st = _spec(obj), _status(obj)
    row = [
        str(spec.get("replicas", 1)),
        str(_int(st.get("replicas"))),
        str(_int(st.get("readyReplicas"))),
        age(_meta(obj).get("creationTimestamp"), now),
    ]
    if wide:
        names, images = _containers(((spec.get("template") or {}).get("spec")) or {})
        row += [names, images, format_selector(spec.get("selector"))]
    return row


def _job_status(st: JSON, spec: JSON) -> str:
    """kubectl's Job STATUS: the finishing condition, else Suspended, else Running."""
    conditions = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
    for kind, label in (("Complete", "Complete"), ("Failed", "Failed"), ("Suspended", "Suspended")):
        if conditions.get(kind) == "True":
            return label
    return "Suspended" if spec.get("suspend") else "Running"


def _job_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    """NAME STATUS COMPLETIONS DURATION AGE (Kubernetes' printJob)."""
    spec, st = _spec(obj), _status(obj)
    completions = spec.get("completions")
    succeeded = _int(st.get("succeeded"))
    done = f"{succeeded}/{completions}" if completions is not None else f"{succeeded}/1 of {spec.get('parallelism', 1)}"
    started, finished = st.get("startTime"), st.get("completionTime")
    duration = ""
    if started:
        end = parse_time(finished) if finished else now
        duration = human_duration((end - parse_time(started)).total_seconds())
    row = [_job_status(st, spec), done, duration, age(_meta(obj).get("creationTimestamp"), now)]
    if wide:
        names, images = _containers(((spec.get("template") or {}).get("spec")) or {})
        row += [names, images, format_selector(spec.get("selector"))]
    return row


def _cronjob_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    """NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE (Kubernetes' printCronJob)."""
    spec, st = _spec(obj), _status(obj)
    last = st.get("lastScheduleTime")
    row = [spec.get("schedule", ""), spec.get("timeZone") or "<none>", str(bool(spec.get("suspend"))),
           str(len(st.get("active") or [])), age(last, now) if last else "<none>",
           age(_meta(obj).get("creationTimestamp"), now)]
    if wide:
        job_spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
        names, images = _containers(((job_spec.get("template") or {}).get("spec")) or {})
        row += [names, images, format_selector(job_spec.get("selector"))]
    return row


def _template_columns(spec: JSON) -> list[str]:
    names, images = _containers(((spec.get("template") or {}).get("spec")) or {})
    return [names, images]


def _daemonset_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    """DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE (printDaemonSet)."""
    spec, st = _spec(obj), _status(obj)
    node_selector = ((spec.get("template") or {}).get("spec") or {}).get("nodeSelector")
    row = [str(_int(st.get(k))) for k in ("desiredNumberScheduled", "currentNumberScheduled", "numberReady",
                                           "updatedNumberScheduled", "numberAvailable")]
    row += [format_labels(node_selector), age(_meta(obj).get("creationTimestamp"), now)]
    if wide:
        row += [*_template_columns(spec), format_selector(spec.get("selector"))]
    return row


def _statefulset_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    """READY AGE (printStatefulSet)."""
    spec, st = _spec(obj), _status(obj)
    row = [f"{_int(st.get('readyReplicas'))}/{spec.get('replicas', 1)}", age(_meta(obj).get("creationTimestamp"), now)]
    return row + _template_columns(spec) if wide else row


def _revision_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    """CONTROLLER REVISION AGE: the controller as `<kind>.<group>/<name>`."""
    owner = next((r for r in _meta(obj).get("ownerReferences") or [] if r.get("controller")), None)
    controller = NONE
    if owner is not None:
        group = (owner.get("apiVersion") or "").rpartition("/")[0]
        controller = f"{owner.get('kind', '').lower()}{'.' + group if group else ''}/{owner.get('name')}"
    return [controller, str(_int(obj.get("revision"))), age(_meta(obj).get("creationTimestamp"), now)]


_ACCESS_MODE_SHORT = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX",
                      "ReadWriteOncePod": "RWOP"}


def access_modes(modes: list[str] | None) -> str:
    return ",".join(_ACCESS_MODE_SHORT.get(m, m) for m in modes or [])


def _pvc_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    """STATUS VOLUME CAPACITY ACCESS MODES STORAGECLASS VOLUMEATTRIBUTESCLASS AGE (printPersistentVolumeClaim)."""
    spec, st = _spec(obj), _status(obj)
    bound = st.get("phase") == "Bound"
    row = [st.get("phase") or "", spec.get("volumeName") or "",
           str((st.get("capacity") or {}).get("storage", "")) if bound else "",
           access_modes(st.get("accessModes")) if bound else "", spec.get("storageClassName") or "",
           spec.get("volumeAttributesClassName") or NONE, age(_meta(obj).get("creationTimestamp"), now)]
    return [*row, spec.get("volumeMode") or ""] if wide else row


def _pv_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    """CAPACITY ACCESS MODES RECLAIM POLICY STATUS CLAIM STORAGECLASS VOLUMEATTRIBUTESCLASS REASON AGE."""
    spec, st = _spec(obj), _status(obj)
    ref = spec.get("claimRef") or {}
    claim = f"{ref.get('namespace')}/{ref.get('name')}" if ref.get("name") else ""
    row = [str((spec.get("capacity") or {}).get("storage", "")), access_modes(spec.get("accessModes")),
           spec.get("persistentVolumeReclaimPolicy") or "", st.get("phase") or "", claim,
           spec.get("storageClassName") or "", spec.get("volumeAttributesClassName") or NONE,
           st.get("reason") or "", age(_meta(obj).get("creationTimestamp"), now)]
    return [*row, spec.get("volumeMode") or ""] if wide else row


def _storageclass_name(obj: JSON) -> str:
    annotations = _meta(obj).get("annotations") or {}
    default = "true" in (annotations.get("storageclass.kubernetes.io/is-default-class"),
                         annotations.get("storageclass.beta.kubernetes.io/is-default-class"))
    name = _meta(obj).get("name") or ""
    return f"{name} (default)" if default else name


def _storageclass_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    """PROVISIONER RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE (printStorageClass)."""
    return [obj.get("provisioner") or "", obj.get("reclaimPolicy") or "Delete",
            obj.get("volumeBindingMode") or "Immediate", str(bool(obj.get("allowVolumeExpansion"))).lower(),
            age(_meta(obj).get("creationTimestamp"), now)]


def _pdb_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    """MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE (printPodDisruptionBudget)."""
    spec, st = _spec(obj), _status(obj)
    return [str(spec["minAvailable"]) if "minAvailable" in spec else "N/A",
            str(spec["maxUnavailable"]) if "maxUnavailable" in spec else "N/A",
            str(_int(st.get("disruptionsAllowed"))), age(_meta(obj).get("creationTimestamp"), now)]


def hpa_targets(spec: JSON, st: JSON) -> str:
    """kubectl's formatHPAMetrics for Resource metrics: `cpu: 45%/50%`, `<unknown>` before the
    first measurement."""
    current = {(m.get("resource") or {}).get("name"): (m.get("resource") or {}).get("current") or {}
               for m in st.get("currentMetrics") or [] if m.get("type") == "Resource"}
    parts = []
    for metric in spec.get("metrics") or []:
        res = metric.get("resource") or {}
        target, now = res.get("target") or {}, current.get(res.get("name"))
        if target.get("type") == "Utilization":
            got = f"{now['averageUtilization']}%" if now and "averageUtilization" in now else "<unknown>"
            parts.append(f"{res.get('name')}: {got}/{target.get('averageUtilization')}%")
        else:
            got = str(now["averageValue"]) if now and "averageValue" in now else "<unknown>"
            parts.append(f"{res.get('name')}: {got}/{target.get('averageValue')}")
    return ", ".join(parts) or NONE


def _hpa_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    """REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE (printHorizontalPodAutoscaler)."""
    spec, st = _spec(obj), _status(obj)
    ref = spec.get("scaleTargetRef") or {}
    return [f"{ref.get('kind')}/{ref.get('name')}", hpa_targets(spec, st), str(spec.get("minReplicas", "<unset>")),
            str(spec.get("maxReplicas", "")), str(_int(st.get("currentReplicas"))),
            age(_meta(obj).get("creationTimestamp"), now)]


def service_ports(spec: JSON) -> str:
    parts = []
    for port in spec.get("ports") or []:
        proto = port.get("protocol") or "TCP"
        if port.get("nodePort"):
            parts.append(f"{port.get('port')}:{port['nodePort']}/{proto}")
        else:
            parts.append(f"{port.get('port')}/{proto}")
    return ",".join(parts) or NONE


def _service_external_ip(obj: JSON) -> str:
    spec = _spec(obj)
    external = list(spec.get("externalIPs") or [])
    if spec.get("type") == "LoadBalancer":
        ingress = ((_status(obj).get("loadBalancer") or {}).get("ingress")) or []
        external = [i.get("ip") or i.get("hostname") or "" for i in ingress] + external
        return ",".join(external) or "<pending>"
    if spec.get("type") == "ExternalName":
        return spec.get("externalName") or NONE
    return ",".join(external) or NONE


def _service_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    spec = _spec(obj)
    row = [
        spec.get("type") or "ClusterIP",
        spec.get("clusterIP") or NONE,
        _service_external_ip(obj),
        service_ports(spec),
        age(_meta(obj).get("creationTimestamp"), now),
    ]
    if wide:
        row.append(format_selector(spec.get("selector")))
    return row


def node_status(obj: JSON) -> str:
    ready = "Unknown"
    for cond in _status(obj).get("conditions") or []:
        if cond.get("type") == "Ready":
            ready = {"True": "Ready", "False": "NotReady"}.get(cond.get("status"), "Unknown")
    if _spec(obj).get("unschedulable"):
        ready += ",SchedulingDisabled"
    return ready


def node_roles(labels: dict[str, str] | None) -> str:
    roles = set()
    for key, value in (labels or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            roles.add(key.split("/", 1)[1])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(r for r in roles if r)) or NONE


def _node_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    st = _status(obj)
    info = st.get("nodeInfo") or {}
    row = [
        node_status(obj),
        node_roles(_meta(obj).get("labels")),
        age(_meta(obj).get("creationTimestamp"), now),
        info.get("kubeletVersion") or "",
    ]
    if wide:
        internal = [a.get("address", "") for a in st.get("addresses") or []
                    if a.get("type") == "InternalIP"]
        row += [
            ",".join(internal) or NONE,
            info.get("osImage") or "<unknown>",
            info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>",
        ]
    return row


def _namespace_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    return [_status(obj).get("phase") or "Active", age(_meta(obj).get("creationTimestamp"), now)]


def _configmap_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    count = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [str(count), age(_meta(obj).get("creationTimestamp"), now)]


def _secret_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    count = len(obj.get("data") or {}) + len(obj.get("stringData") or {})
    return [obj.get("type") or "Opaque", str(count), age(_meta(obj).get("creationTimestamp"), now)]


def format_endpoints(obj: JSON, limit: int = 3) -> str:
    """'10.0.0.1:80,10.0.0.2:80 + 2 more...' as kubectl's formatEndpoints."""
    items: list[str] = []
    total = 0
    for subset in obj.get("subsets") or []:
        ports = subset.get("ports") or [{}]
        for port in ports:
            for addr in subset.get("addresses") or []:
                total += 1
                if len(items) < limit:
                    ip = addr.get("ip", "")
                    items.append(f"{ip}:{port['port']}" if port.get("port") else ip)
    if not items:
        return NONE
    text = ",".join(items)
    return text + (f" + {total - len(items)} more..." if total > len(items) else "")


def _endpoints_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    return [format_endpoints(obj), age(_meta(obj).get("creationTimestamp"), now)]


def _event_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    last = obj.get("lastTimestamp") or obj.get("eventTime") or _meta(obj).get("creationTimestamp")
    involved = obj.get("involvedObject") or {}
    message = (obj.get("message") or "").strip().replace("\n", " ")
    return [
        age(last, now),
        obj.get("type") or "",
        obj.get("reason") or "",
        f"{(involved.get('kind') or '').lower()}/{involved.get('name', '')}",
        message,
    ]


def _lease_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    return [_spec(obj).get("holderIdentity") or "", age(_meta(obj).get("creationTimestamp"), now)]


def _binding_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    """kubectl's rolebinding/clusterrolebinding columns: ROLE, AGE, and wide the subjects by kind."""
    ref = obj.get("roleRef") or {}
    row = [f"{ref.get('kind', '')}/{ref.get('name', '')}", age(_meta(obj).get("creationTimestamp"), now)]
    if wide:
        subjects = obj.get("subjects") or []
        for kind in ("User", "Group"):
            row.append(", ".join(s.get("name", "") for s in subjects if s.get("kind") == kind))
        row.append(", ".join(f"{s.get('namespace', '')}/{s.get('name', '')}"
                             for s in subjects if s.get("kind") == "ServiceAccount"))
    return row


def _role_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    return [_meta(obj).get("creationTimestamp") or ""]


def _default_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    return [age(_meta(obj).get("creationTimestamp"), now)]


RowFn = Callable[[JSON, datetime, bool], list[str]]


def _apiservice_row(obj: JSON, now: datetime, wide: bool) -> list[str]:
    svc = _spec(obj).get("service")
    available = next((c for c in _status(obj).get("conditions") or [] if c.get("type") == "Available"), {})
    return [f"{svc.get('namespace')}/{svc.get('name')}" if svc else "Local", available.get("status", "Unknown"),
            age(_meta(obj).get("creationTimestamp"), now)]


@dataclass(frozen=True)
class TableSpec:
    columns: tuple[str, ...]  # after NAME
    wide: tuple[str, ...]
    row: RowFn
    name: Callable[[JSON], str] | None = None  # NAME when it is more than metadata.name


TABLES: dict[str, TableSpec] = {
    "pods": TableSpec(("READY", "STATUS", "RESTARTS", "AGE"), ("IP", "NODE"), _pod_row),
    "deployments": TableSpec(
        ("READY", "UP-TO-DATE", "AVAILABLE", "AGE"), ("CONTAINERS", "IMAGES", "SELECTOR"),
        _deployment_row,
    ),
    "replicasets": TableSpec(
        ("DESIRED", "CURRENT", "READY", "AGE"), ("CONTAINERS", "IMAGES", "SELECTOR"),
        _replicaset_row,
    ),
    "replicationcontrollers": TableSpec(  # the same columns; its selector is a label map
        ("DESIRED", "CURRENT", "READY", "AGE"), ("CONTAINERS", "IMAGES", "SELECTOR"),
        _replicaset_row,
    ),
    "cronjobs": TableSpec(("SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"),
                          ("CONTAINERS", "IMAGES", "SELECTOR"), _cronjob_row),
    "jobs": TableSpec(("STATUS", "COMPLETIONS", "DURATION", "AGE"), ("CONTAINERS", "IMAGES", "SELECTOR"), _job_row),
    "daemonsets": TableSpec(("DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"),
                            ("CONTAINERS", "IMAGES", "SELECTOR"), _daemonset_row),
    "statefulsets": TableSpec(("READY", "AGE"), ("CONTAINERS", "IMAGES"), _statefulset_row),
    "controllerrevisions": TableSpec(("CONTROLLER", "REVISION", "AGE"), (), _revision_row),
    "persistentvolumeclaims": TableSpec(("STATUS", "VOLUME", "CAPACITY", "ACCESS MODES", "STORAGECLASS",
                                         "VOLUMEATTRIBUTESCLASS", "AGE"), ("VOLUMEMODE",), _pvc_row),
    "persistentvolumes": TableSpec(("CAPACITY", "ACCESS MODES", "RECLAIM POLICY", "STATUS", "CLAIM", "STORAGECLASS",
                                    "VOLUMEATTRIBUTESCLASS", "REASON", "AGE"), ("VOLUMEMODE",), _pv_row),
    "storageclasses": TableSpec(("PROVISIONER", "RECLAIMPOLICY", "VOLUMEBINDINGMODE", "ALLOWVOLUMEEXPANSION", "AGE"),
                                (), _storageclass_row, name=_storageclass_name),
    "poddisruptionbudgets": TableSpec(("MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"), (),
                                      _pdb_row),
    "apiservices": TableSpec(("SERVICE", "AVAILABLE", "AGE"), (), _apiservice_row),
    "horizontalpodautoscalers": TableSpec(("REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"), (),
                                          _hpa_row),
    "services": TableSpec(
        ("TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"), ("SELECTOR",), _service_row
    ),
    "nodes": TableSpec(
        ("STATUS", "ROLES", "AGE", "VERSION"),
        ("INTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"), _node_row,
    ),
    "namespaces": TableSpec(("STATUS", "AGE"), (), _namespace_row),
    "configmaps": TableSpec(("DATA", "AGE"), (), _configmap_row),
    "secrets": TableSpec(("TYPE", "DATA", "AGE"), (), _secret_row),
    "endpoints": TableSpec(("ENDPOINTS", "AGE"), (), _endpoints_row),
    "leases": TableSpec(("HOLDER", "AGE"), (), _lease_row),
    "roles": TableSpec(("CREATED AT",), (), _role_row),
    "clusterroles": TableSpec(("CREATED AT",), (), _role_row),
    "rolebindings": TableSpec(("ROLE", "AGE"), ("USERS", "GROUPS", "SERVICEACCOUNTS"), _binding_row),
    "clusterrolebindings": TableSpec(("ROLE", "AGE"), ("USERS", "GROUPS", "SERVICEACCOUNTS"), _binding_row),
}
# Events have no NAME column in kubectl; handled in `table_for`.
EVENT_COLUMNS = ("LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE")


def table_for(
    plural: str,
    items: Sequence[JSON],
    now: datetime,
    wide: bool = False,
    all_namespaces: bool = False,
    show_labels: bool = False,
    name_prefix: str = "",
) -> tuple[list[str], list[list[str]]]:
    """Header and rows for a list of objects of one resource."""
    if plural == "events":
        header = list(EVENT_COLUMNS)
        rows = [_event_row(obj, now, wide) for obj in items]
    else:
        spec = TABLES.get(plural, TableSpec(("AGE",), (), _default_row))
        header = ["NAME", *spec.columns, *(spec.wide if wide else ())]
        rows = [
            [name_prefix + (spec.name(obj) if spec.name else _meta(obj).get("name") or ""), *spec.row(obj, now, wide)]
            for obj in items
        ]
    if all_namespaces:
        header.insert(0, "NAMESPACE")
        for obj, row in zip(items, rows, strict=True):
            row.insert(0, _meta(obj).get("namespace") or "")
    if show_labels:
        header.append("LABELS")
        for obj, row in zip(items, rows, strict=True):
            row.append(format_labels(_meta(obj).get("labels")))
    return header, rows
