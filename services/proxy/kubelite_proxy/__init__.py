"""kubelite_proxy: Services and Endpoints -> a userspace L4 proxy and cluster DNS, per node."""
