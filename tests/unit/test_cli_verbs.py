"""Pure pieces of the kubectl-style verbs: label/annotate patches, set env, top's columns."""

from __future__ import annotations

import pytest

from kubelite_cli.commands.exec import choose_container, exec_path, exit_code
from kubelite_cli.commands.metadata import metadata_patch, split_args
from kubelite_cli.commands.set_env import with_env
from kubelite_cli.commands.top import cores, mebibytes, node_rows
from kubelite_cli.errors import CLIError
from kubelite_cli.podtemplate import containers_patch


def test_label_args_and_patch() -> None:
    assert split_args(["deploy/web", "a=1", "b-"]) == (["deploy/web"], {"a": "1"}, ["b"])
    assert split_args(["deploy", "web", "a="]) == (["deploy", "web"], {"a": ""}, [])
    with pytest.raises(CLIError, match="modify and remove"):
        split_args(["deploy/web", "a=1", "a-"])
    assert metadata_patch({"a": "1", "b": "2"}, {"a": "1", "c": "3"}, ["b", "z"], overwrite=False) == {
        "c": "3", "b": None}
    with pytest.raises(CLIError, match=r"'a' already has a value \(1\), and --overwrite is false"):
        metadata_patch({"a": "1"}, {"a": "2"}, [], overwrite=False)
    assert metadata_patch({"a": "1"}, {"a": "2"}, [], overwrite=True) == {"a": "2"}


def test_set_env_keeps_order_and_references() -> None:
    dep = {"kind": "Deployment", "metadata": {"resourceVersion": "7"}, "spec": {"template": {"spec": {"containers": [
        {"name": "web", "env": [{"name": "A", "value": "1"}, {"name": "S", "valueFrom": {"secretKeyRef": {}}}]},
        {"name": "side"}]}}}}
    out = with_env(dep, "web", {"A": "2", "B": "3"}, ["S"])
    web, side = out["spec"]["template"]["spec"]["containers"]
    assert web["env"] == [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}]
    assert "env" not in side and dep["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] == "1"
    patch = containers_patch(dep, out)
    assert patch["metadata"] == {"resourceVersion": "7"}
    assert patch["spec"]["template"]["spec"]["containers"][0]["env"][1] == {"name": "B", "value": "3"}
    cron = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
        {"name": "c"}]}}}}}}
    assert with_env(cron, "*", {"X": "1"}, [])["spec"]["jobTemplate"]["spec"]["template"]["spec"][
        "containers"][0]["env"] == [{"name": "X", "value": "1"}]


def test_top_columns() -> None:
    assert cores("2500000n") == "3m" and cores("0") == "0m"
    assert mebibytes("3072Ki") == "3Mi" and mebibytes("52428800") == "50Mi"
    rows = node_rows([{"metadata": {"name": "n1"}, "usage": {"cpu": "500m", "memory": "1Gi"}}],
                     {"n1": {"cpu": "2", "memory": "4Gi"}})
    assert rows == [["n1", "500m", "25%", "1024Mi", "25%"]]


def test_exec_pieces() -> None:
    assert exec_path("ns", "p", ["sh", "-c", "echo hi"], container="c", stdin=True, tty=False) == (
        "/api/v1/namespaces/ns/pods/p/exec?command=sh&command=-c&command=echo+hi&container=c&stdout=true"
        "&stderr=true&stdin=true")
    assert exit_code({"status": "Success"}) == 0
    assert exit_code({"status": "Failure", "reason": "NonZeroExitCode",
                      "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}) == 3
    with pytest.raises(CLIError, match="container not found"):
        exit_code({"status": "Failure", "message": "container not found"})
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}, {"name": "b"}]}}
    assert choose_container(pod, None) == ("a", 'Defaulted container "a" out of: a, b')
    assert choose_container(pod, "b") == ("b", None)
    with pytest.raises(CLIError, match="container z is not valid for pod p"):
        choose_container(pod, "z")
