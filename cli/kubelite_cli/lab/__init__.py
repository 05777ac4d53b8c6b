"""`kubelite lab`: a lab of hosts on one machine (network namespaces on a bridge), running an HA
control plane and worker nodes, for chaos experiments (docs/lab.md)."""
