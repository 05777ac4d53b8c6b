"""Env resolution ($(VAR), valueFrom, envFrom), command lines, and volume file layout (pure)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import msgspec
import pytest

from kubelite.api.core_v1 import Container, KeyToPath, Pod, Volume
from kubelite.api.podrefs import referenced_config
from kubelite_nodeagent.envresolve import (
    ConfigError,
    ConfigSources,
    container_env,
    decode_secret_data,
    expand,
    expand_list,
    field_ref_value,
)
from kubelite_nodeagent.runtime.base import ImageInfo, resolve_argv
from kubelite_nodeagent.volumes import (
    PodDirs,
    container_mounts,
    key_files,
    prepare_volumes,
    volume_dir,
    volume_files,
)


def pod(containers: list[dict], **spec: object) -> Pod:
    return msgspec.convert({
        "metadata": {"name": "web", "namespace": "prod", "uid": "u-1", "labels": {"app": "web"},
                     "annotations": {"team": "core"}},
        "spec": {"nodeName": "node-1", "serviceAccountName": "default", "containers": containers, **spec},
    }, Pod)


def container(**fields: object) -> Container:
    return msgspec.convert({"name": "app", "image": "img", **fields}, Container)


NO_SOURCES = ConfigSources(configmaps={}, secrets={})


@pytest.mark.parametrize(("text", "env", "out"), [
    ("$(A)", {"A": "1"}, "1"),
    ("x$(A)y$(B)z", {"A": "1", "B": "2"}, "x1y2z"),
    ("$(MISSING)", {}, "$(MISSING)"),
    ("$$(A)", {"A": "1"}, "$(A)"),
    ("$$$$", {}, "$$"),
    ("$$", {}, "$"),
    ("$(A", {"A": "1"}, "$(A"),
    ("$A", {"A": "1"}, "$A"),
    ("a$", {}, "a$"),
    ("$()", {}, "$()"),
    ("$(A)$(A)", {"A": "x"}, "xx"),
])
def test_expand_like_kubernetes(text: str, env: dict[str, str], out: str) -> None:
    assert expand(text, env.get) == out


def test_env_order_and_expansion_uses_only_earlier_vars() -> None:
    c = container(env=[
        {"name": "A", "value": "a"},
        {"name": "B", "value": "$(A)-$(C)"},  # C is defined later: stays as written
        {"name": "C", "value": "c"},
    ])
    env = container_env(pod([]), c, NO_SOURCES)
    assert env == {"A": "a", "B": "a-$(C)", "C": "c"}


def test_env_from_then_env_overrides_with_prefix() -> None:
    c = container(
        envFrom=[{"configMapRef": {"name": "cm"}, "prefix": "CM_"}, {"secretRef": {"name": "sec"}}],
        env=[{"name": "CM_x", "value": "override"}],
    )
    sources = ConfigSources(configmaps={"cm": {"x": "1", "y": "2", "bad key": "3"}},
                            secrets={"sec": {"PASSWORD": "pw"}})
    env = container_env(pod([]), c, sources)
    assert env == {"CM_x": "override", "CM_y": "2", "PASSWORD": "pw"}


def test_value_from_refs_and_downward_api() -> None:
    c = container(
        env=[
            {"name": "G", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "greeting"}}},
            {"name": "S", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "pw"}}},
            {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "CPU_M", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}},
        ],
        resources={"limits": {"memory": "64Mi"}, "requests": {"cpu": "250m"}},
    )
    sources = ConfigSources(configmaps={"cm": {"greeting": "hi"}}, secrets={"sec": {"pw": "s3"}})
    env = container_env(pod([]), c, sources, pod_ip="10.244.1.5", host_ip="192.0.2.1",
                        node_allocatable={"cpu": "1900m", "memory": "1Gi"})
    assert env == {"G": "hi", "S": "s3", "NAME": "web", "NS": "prod", "IP": "10.244.1.5", "NODE": "node-1",
                   "APP": "web", "MEM": "64", "CPU": "2", "CPU_M": "250"}


def test_field_ref_values() -> None:
    p = pod([])
    assert field_ref_value(p, "metadata.uid") == "u-1"
    assert field_ref_value(p, "metadata.annotations['team']") == "core"
    assert field_ref_value(p, "status.hostIP", host_ip="h") == "h"
    assert field_ref_value(p, "spec.serviceAccountName") == "default"


@pytest.mark.parametrize(("env", "message"), [
    ([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}], 'configmap "nope" not found'),
    ([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "missing"}}}],
     "couldn't find key missing in ConfigMap prod/cm"),
    ([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}], 'secret "nope" not found'),
    ([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "missing"}}}],
     "couldn't find key missing in Secret prod/sec"),
])
def test_missing_references_name_what_is_missing(env: list[dict], message: str) -> None:
    sources = ConfigSources(configmaps={"cm": {"k": "v"}}, secrets={"sec": {"k": "v"}})
    with pytest.raises(ConfigError) as err:
        container_env(pod([]), container(env=env), sources)
    assert str(err.value) == message


def test_optional_references_are_skipped() -> None:
    c = container(
        env=[{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": True}}}],
        envFrom=[{"secretRef": {"name": "nope", "optional": True}}],
    )
    assert container_env(pod([]), c, NO_SOURCES) == {}
    with pytest.raises(ConfigError, match='configmap "gone" not found'):
        container_env(pod([]), container(envFrom=[{"configMapRef": {"name": "gone"}}]), NO_SOURCES)


def test_command_and_args_resolution() -> None:
    image = ImageInfo(entrypoint=["/entry"], cmd=["default"])
    env = {"WHO": "world"}
    assert resolve_argv(expand_list(["echo"], env), expand_list(["hi $(WHO)"], env), image) == ["echo", "hi world"]
    assert resolve_argv(["echo"], None, image) == ["echo"], "command given: the image CMD is ignored"
    assert resolve_argv(None, ["x"], image) == ["/entry", "x"]
    assert resolve_argv(None, None, image) == ["/entry", "default"]
    assert resolve_argv(None, ["sh", "-c", "true"], ImageInfo()) == ["sh", "-c", "true"]


def test_secret_decoding_and_references() -> None:
    assert decode_secret_data({"pw": "czNjcjN0"}, {"extra": "x"}) == {"pw": "s3cr3t", "extra": "x"}
    p = pod([{"name": "a", "envFrom": [{"configMapRef": {"name": "c1"}}],
              "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s1", "key": "k"}}}]}],
            volumes=[{"name": "v", "configMap": {"name": "c2"}}, {"name": "w", "secret": {"secretName": "s2"}}])
    assert referenced_config(p) == ({"c1", "c2"}, {"s1", "s2"})


# --- volumes --------------------------------------------------------------------------------
def test_key_files_per_key_items_and_modes() -> None:
    data = {"a": b"1", "b": b"2"}
    files = key_files(data, None, None, "missing %s")
    assert {k: (v.data, v.mode) for k, v in files.items()} == {"a": (b"1", 0o644), "b": (b"2", 0o644)}
    items = [KeyToPath(key="a", path="conf/a.txt"), KeyToPath(key="b", path="b", mode=0o600)]
    files = key_files(data, items, 0o440, "missing %s")
    assert {k: (v.data, v.mode) for k, v in files.items()} == {"conf/a.txt": (b"1", 0o440), "b": (b"2", 0o600)}
    with pytest.raises(ConfigError, match="missing c"):
        key_files(data, [KeyToPath(key="c", path="c")], None, "missing %s")


def test_missing_volume_sources() -> None:
    vol = msgspec.convert({"name": "v", "configMap": {"name": "cm"}}, Volume)
    with pytest.raises(ConfigError, match='configmap "cm" not found'):
        volume_files(vol, NO_SOURCES)
    vol = msgspec.convert({"name": "v", "secret": {"secretName": "s", "optional": True}}, Volume)
    assert volume_files(vol, NO_SOURCES) == {}
    vol = msgspec.convert({"name": "v", "configMap": {"name": "cm", "items": [{"key": "zz", "path": "zz"}]}},
                          Volume)
    with pytest.raises(ConfigError, match="configmap references non-existent config key: zz"):
        volume_files(vol, ConfigSources(configmaps={"cm": {"a": "1"}}, secrets={}))


def test_prepare_volumes_writes_files_and_mounts(tmp_path: Path) -> None:
    host_dir = tmp_path / "host"
    p = pod(
        [{"name": "app", "volumeMounts": [
            {"name": "cfg", "mountPath": "/etc/cfg"},
            {"name": "sec", "mountPath": "/etc/sec"},
            {"name": "scratch", "mountPath": "/tmp/scratch"},
            {"name": "host", "mountPath": "/data", "subPath": "sub"},
        ]}],
        volumes=[
            {"name": "cfg", "configMap": {"name": "cm", "defaultMode": 0o600}},
            {"name": "sec", "secret": {"secretName": "s", "items": [{"key": "pw", "path": "auth/password"}]}},
            {"name": "scratch", "emptyDir": {}},
            {"name": "host", "hostPath": {"path": str(host_dir), "type": "DirectoryOrCreate"}},
        ],
    )
    dirs = PodDirs(disk=str(tmp_path / "pod"), memory=str(tmp_path / "tmpfs" / "pod"))
    sources = ConfigSources(configmaps={"cm": {"a": "1", "b": "2"}}, secrets={"s": {"pw": "s3", "other": "x"}})
    prepare_volumes(p, dirs, sources)
    cfg_dir = Path(volume_dir(dirs, p.spec.volumes[0]))
    assert cfg_dir == Path(dirs.disk, "volumes", "kubernetes.io~configmap", "cfg")
    assert (cfg_dir / "a").read_text() == "1"
    assert stat.S_IMODE(os.stat(cfg_dir / "b").st_mode) == 0o600
    sec_dir = Path(volume_dir(dirs, p.spec.volumes[1]))
    assert sec_dir == Path(dirs.memory, "volumes", "kubernetes.io~secret", "sec")  # kubelet's tmpfs
    assert (sec_dir / "auth" / "password").read_text() == "s3"
    assert not (sec_dir / "other").exists()
    assert Path(volume_dir(dirs, p.spec.volumes[2])).is_dir()
    assert volume_dir(dirs, p.spec.volumes[2]).startswith(dirs.disk)  # emptyDir: on disk
    assert host_dir.is_dir()

    # an update removes keys that went away and rewrites changed ones
    prepare_volumes(p, dirs, ConfigSources(configmaps={"cm": {"a": "new"}}, secrets=sources.secrets))
    assert (cfg_dir / "a").read_text() == "new" and not (cfg_dir / "b").exists()

    mounts = container_mounts(p, p.spec.containers[0], dirs)
    assert [(m.container_path, m.read_only) for m in mounts] == [
        ("/etc/cfg", True), ("/etc/sec", True), ("/tmp/scratch", False), ("/data", False)]
    assert mounts[3].host_path == os.path.join(str(host_dir), "sub")
    assert mounts[0].host_path == str(cfg_dir)
