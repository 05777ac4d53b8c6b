"""Import every API group module so each registers its kinds with the scheme."""

from kubelite.api import (
    apiextensions_v1,
    apiregistration_v1,
    apps_v1,
    authorization_v1,
    autoscaling_v2,
    batch_v1,
    coordination_v1,
    core_v1,
    discovery_v1,
    metrics_v1beta1,
    policy_v1,
    rbac_v1,
    serviceaccounts,
    storage_v1,
)

__all__ = ["apiextensions_v1", "apiregistration_v1", "apps_v1", "authorization_v1", "autoscaling_v2", "batch_v1", "coordination_v1", "core_v1", "discovery_v1", "metrics_v1beta1", "policy_v1",
           "rbac_v1",
           "serviceaccounts", "storage_v1"]
