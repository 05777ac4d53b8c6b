"""kubelite_nodeagent: the node agent (registration, lease, pod workers, probes, logs)."""

VERSION = "0.1.0"
