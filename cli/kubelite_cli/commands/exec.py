"""`kubelite exec [-i] [-t] POD [-c CONTAINER] -- COMMAND [ARG...]` over the websocket exec protocol.

The same wire kubectl (1.30+) and the Python client speak: subprotocol v5.channel.k8s.io (or v4),
each binary message a channel byte then data: 0 stdin, 1 stdout, 2 stderr, 3 the final Status,
4 a terminal resize, 255 (v5) "close this channel". The exit code comes from the Status
(reason NonZeroExitCode, cause ExitCode), and becomes kubelite's own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

from kubelite.client.http import error_from_response
from kubelite_cli.errors import CLIError
from kubelite_cli.session import Session, resolve_resource

PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"]
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"


def exec_path(namespace: str, pod: str, command: list[str], *, container: str, stdin: bool, tty: bool) -> str:
    query = [("command", c) for c in command] + [("container", container), ("stdout", "true"),
                                                 ("stderr", "false" if tty else "true")]
    query += [("stdin", "true")] if stdin else []
    query += [("tty", "true")] if tty else []
    return f"/api/v1/namespaces/{namespace}/pods/{pod}/exec?{urlencode(query)}"


def exit_code(status: dict[str, Any]) -> int:
    """0 on Success, the command's code on NonZeroExitCode; anything else is an error line."""
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                return int(cause.get("message") or 1)
        return 1
    raise CLIError(status.get("message") or "exec failed")


def choose_container(pod: dict[str, Any], wanted: str | None) -> tuple[str, str | None]:
    """(container, a note for stderr): -c, else the default-container annotation, else the first."""
    names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    if wanted:
        if wanted not in names and wanted not in [c["name"] for c in pod["spec"].get("initContainers") or []]:
            raise CLIError(f"container {wanted} is not valid for pod {pod['metadata']['name']}")
        return wanted, None
    default = ((pod.get("metadata") or {}).get("annotations") or {}).get(DEFAULT_CONTAINER)
    if default in names:
        return default, None
    if not names:
        raise CLIError(f"pod {pod['metadata']['name']} has no containers")
    note = f'Defaulted container "{names[0]}" out of: {", ".join(names)}' if len(names) > 1 else None
    return names[0], note


def find_pod(session: Session, target: str) -> dict[str, Any]:
    """POD, pod/POD, or TYPE/NAME of anything with a selector (deploy/web, svc/web): as kubectl,
    its first running pod."""
    kind, sep, name = target.partition("/")
    if not sep or kind in ("pod", "pods", "po"):
        return session.api.get("pods", session.namespace, name if sep else target)
    info = resolve_resource(kind)
    owner = session.api.get(info, session.namespace, name)
    selector = (owner.get("spec") or {}).get("selector") or {}
    labels = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
    if not labels or not all(isinstance(v, str) for v in labels.values()):
        raise CLIError(f"cannot exec into {target}: it selects no pods by labels")
    query = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    pods = session.api.list("pods", session.namespace, label_selector=query).get("items") or []
    running = sorted((p for p in pods if (p.get("status") or {}).get("phase") == "Running"),
                     key=lambda p: p["metadata"]["name"])
    if not running:
        raise CLIError(f"no running pod found for {target}")
    return running[0]


@contextlib.contextmanager
def raw_terminal(enabled: bool) -> Iterator[None]:
    if not enabled or not sys.stdin.isatty():
        yield
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _pump_stdin(ws: Any, v5: bool) -> None:
    reader = sys.stdin.buffer
    try:
        while data := (reader.read1(65536) if hasattr(reader, "read1") else reader.read(65536)):
            ws.send(bytes([STDIN]) + data)
        if v5:
            ws.send(bytes([CLOSE, STDIN]))
    except Exception:  # the session ended while we were reading: nothing left to send to
        pass


def _send_size(ws: Any) -> None:
    size = shutil.get_terminal_size()
    with contextlib.suppress(Exception):
        ws.send(bytes([RESIZE]) + json.dumps({"Width": size.columns, "Height": size.lines}).encode())


def _stream(ws: Any, args: argparse.Namespace) -> int:
    v5 = ws.subprotocol == PROTOCOLS[0]
    if args.tty:
        _send_size(ws)
        with contextlib.suppress(ValueError):  # not the main thread
            signal.signal(signal.SIGWINCH, lambda *_: _send_size(ws))
    if args.stdin:
        threading.Thread(target=_pump_stdin, args=(ws, v5), daemon=True).start()
    code = 0
    for message in ws:
        if not isinstance(message, bytes) or not message:
            continue
        channel, data = message[0], message[1:]
        if channel == STDOUT:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        elif channel == STDERR:
            sys.stderr.buffer.write(data)
            sys.stderr.buffer.flush()
        elif channel == ERROR and data:
            code = exit_code(json.loads(data))
    return code


def run(args: argparse.Namespace) -> int:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    command = [c for c in args.command if c != "--"] if args.command else []
    if not command:
        raise CLIError("you must specify at least one command for the container")
    session = Session.from_args(args)
    try:
        pod = find_pod(session, args.pod)
        pod_name = pod["metadata"]["name"]
        container, note = choose_container(pod, args.container)
        if note:
            print(note, file=sys.stderr)
        path = exec_path(session.namespace, pod_name, command, container=container, stdin=args.stdin, tty=args.tty)
        url = session.config.server.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + path
        headers = {"Authorization": f"Bearer {session.config.token}"} if session.config.token else {}
        try:
            with connect(url, ssl=session.config.ssl_context(), subprotocols=PROTOCOLS,  # type: ignore[arg-type]
                         additional_headers=headers, max_size=None, open_timeout=30) as ws, \
                    raw_terminal(args.tty):
                return _stream(ws, args)
        except InvalidStatus as exc:  # refused before the upgrade: the apiserver's Status
            raise error_from_response(exc.response.status_code, exc.response.body or b"") from exc
    finally:
        session.close()
