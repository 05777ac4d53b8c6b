"""NATS access: connection helpers and the subject names every component shares."""
