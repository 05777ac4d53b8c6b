"""Pure rules behind a pod's API access: ServiceAccount admission's token volume, the files a
projected volume becomes, when tokens are refreshed, and the kubernetes Service's Endpoints."""

from __future__ import annotations

import pytest

from kubelite import codec
from kubelite.api.core_v1 import Pod
from kubelite_apiserver.kubernetesservice import plan_endpoints
from kubelite_apiserver.saadmission import TOKEN_PATH, plan_mount, wants_token
from kubelite_nodeagent.envresolve import ConfigError, ConfigSources
from kubelite_nodeagent.podtokens import PodTokens, refresh_time
from kubelite_nodeagent.projected import token_keys
from kubelite_nodeagent.volumes import volume_files


def _pod(**spec: object) -> Pod:
    body = {"metadata": {"name": "web", "namespace": "shop", "uid": "u1", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "x"}],
                     "initContainers": [{"name": "i", "image": "x"}], **spec}}
    return codec.convert(body, Pod)


class _Account:
    def __init__(self, automount: bool | None) -> None:
        self.automountServiceAccountToken = automount


def test_admission_mounts_the_token_volume_in_every_container() -> None:
    pod = _pod()
    plan_mount(pod, "k7x2q")
    assert [v.name for v in pod.spec.volumes] == ["kube-api-access-k7x2q"]
    for c in [*pod.spec.initContainers, *pod.spec.containers]:
        assert [(m.name, m.mountPath, m.readOnly) for m in c.volumeMounts] == [
            ("kube-api-access-k7x2q", TOKEN_PATH, True)]
    sources = pod.spec.volumes[0].projected.sources
    assert sources[0].serviceAccountToken.expirationSeconds == 3607
    assert sources[1].configMap.name == "kube-root-ca.crt"
    assert sources[2].downwardAPI.items[0].fieldRef.fieldPath == "metadata.namespace"


def test_admission_leaves_a_user_mount_at_the_token_path_alone() -> None:
    pod = _pod(volumes=[{"name": "mine", "emptyDir": {}}],
               containers=[{"name": "a", "image": "x", "volumeMounts": [{"name": "mine", "mountPath": TOKEN_PATH}]}])
    plan_mount(pod, "abcde")
    assert [v.name for v in pod.spec.volumes] == ["mine"]
    assert [m.name for m in pod.spec.containers[0].volumeMounts] == ["mine"]


@pytest.mark.parametrize(("pod_says", "account_says", "mounted"), [
    (None, None, True), (None, False, False), (False, None, False), (True, False, True), (False, True, False)])
def test_the_pod_setting_wins_over_the_accounts(pod_says: bool | None, account_says: bool | None,
                                                mounted: bool) -> None:
    assert wants_token(_pod(automountServiceAccountToken=pod_says), _Account(account_says)) is mounted


def test_the_projected_volume_becomes_token_ca_and_namespace() -> None:
    pod = _pod()
    plan_mount(pod, "abcde")
    volume = pod.spec.volumes[0]
    sources = ConfigSources(configmaps={"kube-root-ca.crt": {"ca.crt": "PEM"}}, secrets={})
    files = volume_files(volume, sources, pod=pod, tokens={("", 3607): b"jwt"})
    assert {k: (v.data, oct(v.mode)) for k, v in files.items()} == {
        "token": (b"jwt", "0o644"), "ca.crt": (b"PEM", "0o644"), "namespace": (b"shop", "0o644")}
    with pytest.raises(ConfigError, match="no ServiceAccount token"):
        volume_files(volume, sources, pod=pod, tokens={})
    with pytest.raises(ConfigError, match=r'configmap "kube-root-ca\.crt" not found'):
        volume_files(volume, ConfigSources(configmaps={}, secrets={}), pod=pod, tokens={("", 3607): b"jwt"})


def test_downward_api_volume_files() -> None:
    pod = _pod(volumes=[{"name": "info", "downwardAPI": {"items": [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}, "mode": 0o600}]}}])
    files = volume_files(pod.spec.volumes[0], ConfigSources(configmaps={}, secrets={}), pod=pod)
    assert files["labels"].data == b'app="web"' and files["name"].data == b"web" and files["name"].mode == 0o600


def test_tokens_are_refreshed_at_80_percent_of_their_lifetime() -> None:
    assert refresh_time(0, 3607) == pytest.approx(2885.6)
    now = [1000.0]
    tokens = PodTokens(clock=lambda: now[0])
    pod = _pod()
    plan_mount(pod, "abcde")
    assert token_keys(pod) == [("", 3607)] and tokens.due(pod) and tokens.next_refresh(pod) is None


def test_kubernetes_endpoints_collect_every_apiserver_once() -> None:
    first = plan_endpoints(None, "10.0.0.10", 6443)
    assert first is not None
    assert first["subsets"] == [{"addresses": [{"ip": "10.0.0.10"}],
                                 "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}]
    assert plan_endpoints(first, "10.0.0.10", 6443) is None
    second = plan_endpoints(first, "10.0.0.11", 6443)
    assert [a["ip"] for a in second["subsets"][0]["addresses"]] == ["10.0.0.10", "10.0.0.11"]
