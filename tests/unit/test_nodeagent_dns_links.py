"""Pods' resolv.conf by dnsPolicy and the Service environment variables."""

from __future__ import annotations

import msgspec

from kubelite.api.core_v1 import Pod, Service
from kubelite_nodeagent.clusterdns import resolv_conf
from kubelite_nodeagent.servicelinks import service_env


def pod(**spec) -> Pod:
    return msgspec.convert({"metadata": {"name": "p", "namespace": "shop"},
                            "spec": {"containers": [{"name": "c", "image": "i"}], **spec}}, Pod)


def test_cluster_first_points_at_cluster_dns_with_search_path() -> None:
    text = resolv_conf(pod(), nameserver="10.244.1.1", cluster_domain="cluster.local", host_network=False)
    assert text == ("nameserver 10.244.1.1\n"
                    "search shop.svc.cluster.local svc.cluster.local cluster.local\n"
                    "options ndots:5\n")


def test_policies() -> None:
    kw = {"nameserver": "10.244.1.1", "cluster_domain": "cluster.local"}
    assert resolv_conf(pod(dnsPolicy="Default"), host_network=False, **kw) is None
    assert resolv_conf(pod(), host_network=True, **kw) is None  # ClusterFirst + hostNetwork = Default
    assert "nameserver 10.244.1.1" in resolv_conf(pod(dnsPolicy="ClusterFirstWithHostNet"), host_network=True, **kw)
    none = pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.1.1.1"], "searches": ["x.local"],
                                            "options": [{"name": "ndots", "value": "2"}]})
    assert resolv_conf(none, host_network=False, **kw) == "nameserver 1.1.1.1\nsearch x.local\noptions ndots:2\n"
    merged = resolv_conf(pod(dnsConfig={"options": [{"name": "ndots", "value": "1"}, {"name": "edns0"}]}),
                         host_network=False, **kw)
    assert merged.endswith("options ndots:1 edns0\n")


def test_service_env_like_the_kubelet() -> None:
    svcs = [msgspec.convert({"metadata": {"name": "redis-primary"},
                             "spec": {"clusterIP": "10.96.0.11", "ports": [
                                 {"name": "redis", "port": 6379, "protocol": "TCP"},
                                 {"name": "metrics", "port": 9121}]}}, Service),
            msgspec.convert({"metadata": {"name": "headless"}, "spec": {"clusterIP": "None",
                                                                        "ports": [{"port": 80}]}}, Service)]
    env = service_env(svcs)
    assert env["REDIS_PRIMARY_SERVICE_HOST"] == "10.96.0.11"
    assert env["REDIS_PRIMARY_SERVICE_PORT"] == "6379"
    assert env["REDIS_PRIMARY_SERVICE_PORT_METRICS"] == "9121"
    assert env["REDIS_PRIMARY_PORT"] == "tcp://10.96.0.11:6379"
    assert env["REDIS_PRIMARY_PORT_6379_TCP_ADDR"] == "10.96.0.11"
    assert env["REDIS_PRIMARY_PORT_9121_TCP_PROTO"] == "tcp"
    assert not any(k.startswith("HEADLESS") for k in env)
