"""The EndpointSlice controller: one discovery.k8s.io/v1 EndpointSlice per selector Service."""
