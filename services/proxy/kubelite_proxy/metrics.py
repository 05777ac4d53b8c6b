"""The proxy's Prometheus metrics: kube-proxy's rule-sync names (pkg/proxy/metrics) and, for
the userspace data path kube-proxy no longer has, kubelite's own connection and byte counters."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SYNC_RULES_DURATION = Histogram("kubeproxy_sync_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds",
                                buckets=tuple(0.001 * 2**i for i in range(15)))
SYNC_RULES_LAST = Gauge("kubeproxy_sync_proxy_rules_last_timestamp_seconds",
                        "The last time proxy rules were successfully synced")
CONNECTIONS = Counter("kubelite_proxy_connections", "Client connections accepted on Service frontends.", ["protocol"])
ACTIVE_CONNECTIONS = Gauge("kubelite_proxy_active_connections", "TCP connections being forwarded now.")
CONNECT_FAILURES = Counter("kubelite_proxy_backend_connect_failures",
                           "Connections to a backend that failed (the next candidate is tried).")
REJECTED = Counter("kubelite_proxy_rejected_connections",
                   "Client connections reset because no backend was ready or none accepted.")
BYTES = Counter("kubelite_proxy_bytes", "Bytes forwarded, by direction (to_backend, to_client).", ["direction"])
TO_BACKEND = BYTES.labels("to_backend")
TO_CLIENT = BYTES.labels("to_client")
TCP_CONNECTIONS = CONNECTIONS.labels("TCP")
