"""What is wrong with the rule table, logged once per message by either data path.

Both data paths (dataplane.UserspaceDataplane, nft_dataplane.NftablesDataplane) settle
frontends two Service ports claim (rules.resolve_frontends) and report each rule's own
warnings on every sync; a sync repeats them, the log should not.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from kubelite_proxy.rules import Frontend, PortRule, ServicePortName, resolve_frontends

_REMEMBERED = 10000  # messages remembered before forgetting them all (bounds memory)


class RuleLog:
    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._seen: set[str] = set()

    def warn(self, msg: str, quiet: bool = False) -> None:
        if msg in self._seen:
            return
        if len(self._seen) > _REMEMBERED:
            self._seen.clear()
        self._seen.add(msg)
        (self._log.info if quiet else self._log.warning)("%s", msg)

    def owners(self, rules: Iterable[PortRule]) -> dict[Frontend, ServicePortName]:
        """rules.resolve_frontends, logging each conflict and each rule's warnings once."""
        rules = list(rules)
        owners, conflicts = resolve_frontends(rules)
        for msg in conflicts:
            self.warn(f"frontend conflict: {msg}")
        for rule in rules:
            for msg in rule.warnings:
                self.warn(f"{rule.service_port}: {msg}", quiet=msg == "no ready endpoints")
        return owners
