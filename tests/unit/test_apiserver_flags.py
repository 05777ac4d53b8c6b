"""kubelite-apiserver's flags that take a duration, parsed as kube-apiserver parses them."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelite_apiserver.config import parse_args


def _argv(tmp_path: Path, *extra: str) -> list[str]:
    files = {}
    for flag in ("tls-cert-file", "tls-private-key-file", "nats-cert-file", "nats-key-file", "nats-ca-file"):
        path = tmp_path / flag
        path.write_text("not read by parse_args")
        files[flag] = str(path)
    return [*(x for flag, path in files.items() for x in (f"--{flag}", path)), *extra]


def test_event_ttl_defaults_to_an_hour_and_takes_a_duration(tmp_path: Path) -> None:
    assert parse_args(_argv(tmp_path)).event_ttl == 3600
    assert parse_args(_argv(tmp_path, "--event-ttl", "90m")).event_ttl == 5400
    assert parse_args(_argv(tmp_path, "--event-ttl", "0")).event_ttl == 0  # Events never expire


def test_a_negative_event_ttl_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse_args(_argv(tmp_path, "--event-ttl=-5s"))
    assert exit_.value.code == 2
    assert "argument --event-ttl: invalid duration '-5s': must not be negative" in capsys.readouterr().err
