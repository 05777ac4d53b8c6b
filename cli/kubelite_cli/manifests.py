"""Reading manifests (`-f FILE|DIR|-`): multi-document YAML or JSON -> object dicts."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kubelite_cli.errors import CLIError

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Manifest:
    source: str  # file name, or "STDIN"
    obj: dict[str, Any]


def yaml_error_line(source: str, exc: yaml.YAMLError) -> str:
    """One readable line for a YAML syntax error: 'error parsing F: line 3: <problem>'."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1}: " if mark is not None else ""
    return f"error parsing {source}: {where}{problem}"


def parse_documents(text: str, source: str) -> list[Manifest]:
    """Pure: every non-empty document of a YAML/JSON stream, `kind: List` flattened."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise CLIError(yaml_error_line(source, exc)) from exc
    out: list[Manifest] = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise CLIError(f'error validating "{source}": a document is not a mapping')
        if doc.get("kind") == "List" or (doc.get("kind", "").endswith("List") and "items" in doc):
            out.extend(Manifest(source, item) for item in doc.get("items") or [])
        else:
            out.append(Manifest(source, doc))
    for m in out:
        if not m.obj.get("apiVersion"):
            raise CLIError(f'error validating "{source}": apiVersion not set')
        if not m.obj.get("kind"):
            raise CLIError(f'error validating "{source}": kind not set')
        meta = m.obj.get("metadata")
        if not isinstance(meta, dict) or not (meta.get("name") or meta.get("generateName")):
            raise CLIError(f'error validating "{source}": metadata.name not set')
    return out


def _files_of(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
    return [path]


def load_manifests(sources: list[str]) -> list[Manifest]:
    """Read each `-f` argument: a file, a directory of manifests, or '-' for stdin."""
    out: list[Manifest] = []
    for source in sources:
        if source == "-":
            out.extend(parse_documents(sys.stdin.read(), "STDIN"))
            continue
        path = Path(source)
        if not path.exists():
            raise CLIError(f'the path "{source}" does not exist')
        for file in _files_of(path):
            try:
                text = file.read_text()
            except OSError as exc:
                raise CLIError(f"cannot read {file}: {exc.strerror or exc}") from exc
            out.extend(parse_documents(text, str(file)))
    if not out:
        raise CLIError("no objects passed to apply")
    return out
