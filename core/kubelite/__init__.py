"""kubelite shared library.

Folders:
  api/        the object model (msgspec Structs with Kubernetes field names), the
              resource scheme, quantities, selectors, patches, defaults, validation
  storage/    etcd access: the only code that talks to etcd
  bus/        NATS access and the subject names every component shares
  client/     API clients (HTTP and NATS request-reply) for components and the CLI
  reconcile/  informers, work queues, leader election for controllers
"""

__version__ = "0.1.0"
