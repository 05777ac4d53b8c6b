"""kubelite_controller_manager: the reconcile loops (ReplicaSet, Deployment, node lifecycle,
endpoints, EndpointSlices, garbage collector, namespaces, ServiceAccounts; each listed in app.CONTROLLERS)."""
