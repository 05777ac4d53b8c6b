"""Shared reconcile machinery for the control plane and node components.

- informer.Informer: list-watched, indexed cache of one resource from etcd
- nats_informer.NatsInformer: the same interface fed by NATS + API lists (node components)
- workqueue.WorkQueue: deduplicating, rate-limited work queue (one worker per key)
- controller.run_workers / Controller: reconcile loops over a queue
- leader.LeaderElector: one active replica through an etcd lease
- recorder.EventRecorder: aggregated core/v1 Events
- expectations.ControllerExpectations: wait for the cache to see our own writes

Import the submodules directly (node components must not pull in the etcd client).
"""
