"""kubelite_scheduler: places pods on nodes (filters, scores, binds; see scheduler.py)."""

# `kubelite up` starts services whose package says they run (cli/kubelite_cli/cluster/services.py).
IMPLEMENTED = True
