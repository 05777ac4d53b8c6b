"""kubelite_apiserver: Kubernetes REST over HTTP and the same API over NATS; the only etcd writer."""
