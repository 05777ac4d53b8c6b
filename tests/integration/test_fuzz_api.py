"""Thousands of malformed or mutated requests against the authenticated apiserver (HTTPS, RBAC):
no answer is a 5xx, its log holds no traceback, and no rejected request changes anything.

The requests are built from valid ones (create/patch/update/get/delete of ConfigMaps,
Pods, Deployments and RBAC objects) by seeded mutations of the body, the content type,
the path, the query and the credentials, so a failure is reproducible from its seed.
Every object a mutated request might create carries a name only that request uses;
afterwards every object in the namespace belongs to a request that was answered 2xx.
4,000 requests by default (a minute's worth went to 10,000); KUBELITE_FUZZ_REQUESTS and
KUBELITE_FUZZ_SEED run more, or other, mutations.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
from typing import Any

import httpx

REQUESTS = int(os.environ.get("KUBELITE_FUZZ_REQUESTS", "4000"))
CONCURRENCY = 16
SEED = int(os.environ.get("KUBELITE_FUZZ_SEED", "20261203"))


def _valid_bodies(ns: str, name: str) -> list[tuple[str, str, Any]]:
    """(method, path, body) of requests that would succeed before mutation."""
    core, apps, rbac = f"/api/v1/namespaces/{ns}", f"/apis/apps/v1/namespaces/{ns}", \
        f"/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}"
    container = {"name": "c", "image": "busybox", "command": ["sleep", "1"]}
    return [
        ("POST", f"{core}/configmaps", {"metadata": {"name": name, "labels": {"a": "b"}}, "data": {"k": "v"}}),
        ("POST", f"{core}/pods", {"metadata": {"name": name}, "spec": {"containers": [container]}}),
        ("POST", f"{apps}/deployments", {"metadata": {"name": name}, "spec": {
            "replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}}}),
        ("POST", f"{rbac}/roles", {"metadata": {"name": name}, "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
        ("POST", f"{rbac}/rolebindings", {"metadata": {"name": name}, "subjects": [
            {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "x"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"}}),
        ("PATCH", f"{core}/configmaps/{name}", {"data": {"k": "w"}}),
        ("PUT", f"{core}/configmaps/{name}", {"metadata": {"name": name}, "data": {}}),
        ("GET", f"{core}/pods", None),
        ("DELETE", f"{core}/configmaps/{name}", None),
    ]


JUNK = ["", "null", "[]", "{", "}", '{"metadata": 1}', '{"metadata": {"name": 7}}', "\x00\x01\x02",
        '{"kind": "Pod", "apiVersion": "v99"}', '"string"', "1e999", '{"spec": {"containers": "x"}}',
        '{"metadata": {"name": "' + "a" * 300 + '"}}', '{"metadata": {"labels": {"-bad-": "@@"}}}',
        "\udcff", '{"data": {"k": 1}}', '{"metadata": {"namespace": "elsewhere", "name": "n"}}']
CONTENT_TYPES = ["application/json", "application/yaml", "text/plain", "application/merge-patch+json",
                 "application/json-patch+json", "application/strategic-merge-patch+json",
                 "application/apply-patch+yaml", "application/vnd.kubernetes.protobuf", "multipart/form-data",
                 "application/json; charset=utf-16", ""]
QUERIES = [{}, {"limit": "-1"}, {"limit": "x"}, {"watch": "maybe"}, {"fieldSelector": "=="},
           {"labelSelector": "a in (b"}, {"resourceVersion": "abc"}, {"continue": "!!!"},
           {"dryRun": "Maybe"}, {"gracePeriodSeconds": "-5"}, {"propagationPolicy": "Sideways"},
           {"fieldManager": "m" * 200}, {"timeoutSeconds": "1e9"}, {"pretty": "\x00"}]
HEADERS = [{}, {"Authorization": "Bearer x.y.z"}, {"Authorization": "Bearer "}, {"Impersonate-Group": "g"},
           {"Impersonate-User": ""}, {"Accept": "application/vnd.kubernetes.protobuf"},
           {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}, {"Content-Encoding": "gzip"}]


def _mutate_body(rng: random.Random, body: Any) -> bytes:
    if body is None or rng.random() < 0.25:
        return rng.choice(JUNK).encode("utf-8", "surrogatepass")
    text = json.dumps(body)
    choice = rng.randrange(5)
    if choice == 0:  # truncate
        return text[: rng.randrange(len(text))].encode()
    if choice == 1:  # flip characters
        chars = list(text)
        for _ in range(rng.randrange(1, 6)):
            chars[rng.randrange(len(chars))] = rng.choice('{}[]":,\\x0@ ')
        return "".join(chars).encode()
    if choice == 2:  # a field of the wrong type
        doc = json.loads(text)
        doc[rng.choice(["metadata", "spec", "data", "rules", "subjects", "roleRef"])] = rng.choice(
            [1, "s", [], None, {"x": {"y": []}}])
        return json.dumps(doc).encode()
    if choice == 3:  # unknown fields everywhere
        doc = json.loads(text)
        doc["bogus"] = {"nested": [1, 2]}
        if isinstance(doc.get("metadata"), dict):
            doc["metadata"]["unknownMeta"] = True
        return json.dumps(doc).encode()
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))  # binary noise


def _mutate_path(rng: random.Random, path: str) -> str:
    parts = path.split("/")
    choice = rng.randrange(6)
    if choice == 0:
        parts[rng.randrange(1, len(parts))] = rng.choice(["", "..", "%00", "x" * 300, "Ünïcode", "*", "-"])
    elif choice == 1:
        parts.append(rng.choice(["status", "scale", "log", "exec", "binding", "token", "proxy", "x/y/z"]))
    elif choice == 2:
        return path.replace("/v1/", rng.choice(["/v2/", "/v1beta1/", "//"]), 1)
    return "/".join(parts)


def build(rng: random.Random, ns: str, i: int) -> tuple[str, str, bytes, dict, dict, str]:
    name = f"z{i}-{rng.getrandbits(24):06x}"  # seeded: a failure names a reproducible request
    method, path, body = rng.choice(_valid_bodies(ns, name))
    content = json.dumps(body).encode() if body is not None else b""
    headers = {"Content-Type": "application/json"}
    if rng.random() < 0.7:
        content = _mutate_body(rng, body)
    if rng.random() < 0.3:
        headers["Content-Type"] = rng.choice(CONTENT_TYPES)
    if rng.random() < 0.3:
        path = _mutate_path(rng, path)
    if rng.random() < 0.15:
        method = rng.choice(["OPTIONS", "HEAD", "TRACE", "PROPFIND", "POST", "PUT"])
    if rng.random() < 0.15:
        headers.update(rng.choice(HEADERS))
    return method, path, content, rng.choice(QUERIES) if rng.random() < 0.3 else {}, headers, name


async def test_thousands_of_mutated_requests(apiserver: Any, api: httpx.AsyncClient, namespace: str) -> None:
    rng = random.Random(SEED)
    work = [build(rng, namespace, i) for i in range(REQUESTS)]
    server_errors: list[str] = []
    accepted: set[str] = set()  # names answered 2xx: the request's own, and any the answer names
    outcome: dict[str, str] = {}  # name -> what happened to its request, for the failure message
    codes: dict[int, int] = {}
    queue: asyncio.Queue[tuple] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    log_before = apiserver.log_path.read_text(errors="replace")

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=apiserver.url, verify=apiserver.tls, timeout=30) as client:
            while not queue.empty():
                method, path, content, params, headers, name = queue.get_nowait()
                try:
                    r = await client.request(method, path, content=content, params=params, headers=headers)
                except httpx.HTTPError as exc:  # the client refusing to send it (bad header) is not the server
                    codes[0] = codes.get(0, 0) + 1
                    outcome[name] = f"{method} {path}: client error {exc!r}"
                    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
                        server_errors.append(f"{method} {path}: connection broken: {exc!r}")
                    continue
                codes[r.status_code] = codes.get(r.status_code, 0) + 1
                if r.status_code >= 500:
                    server_errors.append(f"{method} {path} {headers} {content[:80]!r}: {r.status_code} {r.text[:200]}")
                outcome[name] = f"{method} {path} {headers} {content[:120]!r} -> {r.status_code} {r.text[:200]}"
                if r.status_code < 300:
                    accepted.add(name)
                    with contextlib.suppress(ValueError, AttributeError, TypeError, KeyError):
                        accepted.add(r.json()["metadata"]["name"])

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(CONCURRENCY))), 600)
    assert not server_errors, f"{len(server_errors)} server errors, e.g. {server_errors[:5]} (codes {codes})"
    assert sum(codes.values()) == REQUESTS
    new_log = apiserver.log_path.read_text(errors="replace")[len(log_before):]
    assert "Traceback" not in new_log, new_log[new_log.index("Traceback") - 200:][:3000]

    # everything stored in the namespace came from a request that was accepted
    stored: set[tuple[str, str]] = set()
    for plural, base in (("configmaps", "/api/v1"), ("pods", "/api/v1"), ("deployments", "/apis/apps/v1"),
                         ("roles", "/apis/rbac.authorization.k8s.io/v1"),
                         ("rolebindings", "/apis/rbac.authorization.k8s.io/v1")):
        r = await api.get(f"{base}/namespaces/{namespace}/{plural}")
        assert r.status_code == 200
        stored |= {(plural, i["metadata"]["name"]) for i in r.json()["items"] if i["metadata"]["name"].startswith("z")}
    stray = {(plural, name) for plural, name in stored if name not in accepted}
    assert not stray, "objects stored by requests that were refused: " + "; ".join(
        f"{plural}/{name}: {outcome.get(name, 'no request has this name')}" for plural, name in sorted(stray)[:10])
