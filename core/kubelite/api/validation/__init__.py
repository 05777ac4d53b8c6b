"""Validation of API objects, with Kubernetes' field paths and messages."""
