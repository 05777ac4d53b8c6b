"""Prometheus metrics of every kubelite process: the shared metric families (`families`) and
the authenticated HTTPS endpoint that serves them (`server`)."""
