"""kubelite_nodeagent: the node agent (registration, lease, pod workers, probes, logs)."""

IMPLEMENTED = True
VERSION = "0.1.0"
