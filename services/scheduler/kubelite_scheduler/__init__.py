"""kubelite_scheduler: places pods on nodes (filters, scores, binds; see scheduler.py)."""
