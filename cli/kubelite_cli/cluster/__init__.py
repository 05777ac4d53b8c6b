"""Local cluster management: the services table, detached processes, cluster.json."""
