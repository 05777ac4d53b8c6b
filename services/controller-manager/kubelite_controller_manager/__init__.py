"""kubelite_controller_manager: the reconcile loops (ReplicaSet, Deployment; more join via app.CONTROLLERS)."""

IMPLEMENTED = True  # `kubelite up` starts it (see kubelite_cli.cluster.services)
