"""Which data path a proxy takes (`--proxy-mode`), and what of it stays in userspace (pure)."""

from __future__ import annotations

import pytest

from kubelite_proxy import __main__ as proxy_main
from kubelite_proxy.nft_mode import split_rules
from kubelite_proxy.rules import Backend, Frontend, PortRule, ServicePortName

WEB = ServicePortName("default", "web", "", "TCP")
DNS = ServicePortName("default", "dns", "", "UDP")
API = ServicePortName("default", "kubernetes", "https", "TCP")
A = Backend("10.244.1.5", 8080)


def test_the_kernel_gets_every_rule_userspace_the_node_ports_on_localhost() -> None:
    fronts = (Frontend("10.96.0.10", 80, "TCP"), Frontend("192.0.2.9", 80, "TCP"), Frontend("0.0.0.0", 30080, "TCP"))
    web = PortRule(WEB, fronts, (A,), 60, "10.96.0.10")
    dns = PortRule(DNS, (Frontend("10.96.0.53", 53, "UDP"),), (A,), None, "10.96.0.53")  # no NodePort
    kernel, userspace = split_rules([web, dns])
    assert kernel == [web, dns]
    assert userspace == [PortRule(WEB, (Frontend("127.0.0.1", 30080, "TCP"),), (A,), 60, "10.96.0.10")]
    assert split_rules([]) == ([], [])


def test_a_port_with_an_endpoint_on_loopback_is_wholly_userspace() -> None:
    api = PortRule(API, (Frontend("10.96.0.1", 443, "TCP"),), (Backend("127.0.0.1", 6443),), None, "10.96.0.1")
    assert split_rules([api]) == ([], [api])  # a pod's packet cannot be DNATed to the host's 127.0.0.1


@pytest.mark.parametrize(
    ("argv", "problem", "expected"),
    [
        ([], None, "nftables"),
        ([], "nftables needs root (CAP_NET_ADMIN)", "userspace"),
        (["--bind-address", "127.0.0.2"], None, "userspace"),
        (["--proxy-mode", "userspace"], None, "userspace"),
        (["--proxy-mode", "nftables"], None, "nftables"),
    ],
)
def test_nftables_is_the_default_where_it_works(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], problem: str | None, expected: str
) -> None:
    monkeypatch.setattr(proxy_main, "unavailable_reason", lambda: problem)
    mode, why = proxy_main.choose_mode(proxy_main.parse_args(argv))
    assert mode == expected
    if expected == "userspace" and "--proxy-mode" not in argv:
        assert "cannot work here" in why  # the log line says why the default was not taken


@pytest.mark.parametrize(
    "argv",
    [["--proxy-mode", "nftables"], ["--proxy-mode", "nftables", "--bind-address", "127.0.0.1"]],
)
def test_asking_for_nftables_where_it_cannot_work_is_one_line(
    monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.setattr(
        proxy_main, "unavailable_reason", lambda: None if "--bind-address" in argv else "no nft"
    )
    with pytest.raises(SystemExit, match=r"--proxy-mode nftables: .*use --proxy-mode userspace"):
        proxy_main.choose_mode(proxy_main.parse_args(argv))
