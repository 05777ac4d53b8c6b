"""The scheduler's Prometheus metrics, under kube-scheduler's names (pkg/scheduler/metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SCHEDULE_ATTEMPTS = Counter("scheduler_schedule_attempts",
                            "Number of attempts to schedule pods, by the result. 'unschedulable' means a pod "
                            "could not be scheduled, while 'error' means an internal scheduler problem.",
                            ["result", "profile"])
ATTEMPT_DURATION = Histogram("scheduler_scheduling_attempt_duration_seconds",
                             "Scheduling attempt latency in seconds (scheduling algorithm + binding)",
                             ["result", "profile"], buckets=tuple(0.001 * 2**i for i in range(15)))
PENDING_PODS = Gauge("scheduler_pending_pods",
                     "Number of pending pods, by the queue type. 'active' means number of pods in activeQ; "
                     "'unschedulable' means number of pods in unschedulablePods (with their back-off).",
                     ["queue"])
