"""kubelite_controller_manager: ReplicaSet and Deployment controllers (more join via app.CONTROLLERS)."""

IMPLEMENTED = False  # set True once the process runs end to end (see `kubelite up`)
