"""The kernel backend: keeps this node's nftables table in step with the rule table.

Same interface as the userspace one (dataplane.UserspaceDataplane), so the
proxy service drives either: `set_rules(service, rules)` records a Service's
rules, `sync()` writes what changed as one `nft -f -` transaction (coalesced:
changes that arrive while `nft` runs go out in the next one), `apply` does both.
Packets never pass through this process; a restart of it leaves the table in
place, so Services keep working while the proxy is down (kube-proxy does the
same), and its first sync replaces the table whole.

After a UDP Service port loses an endpoint, conntrack entries DNATed to it are
deleted (else a client's "connection" keeps going to the dead pod until it
idles out); after one gains its first endpoint, entries of the rejected
packets are deleted, as kube-proxy does. TCP needs neither: established
connections keep their endpoint, which is what lets a terminating pod finish
them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Hashable, Sequence

from kubelite.command import run_command
from kubelite_proxy import nftables
from kubelite_proxy.metrics import SYNC_RULES_DURATION, SYNC_RULES_LAST
from kubelite_proxy.rulelog import RuleLog
from kubelite_proxy.rules import Frontend, PortRule, RuleTable, ServicePortName

log = logging.getLogger(__name__)

CHECK_SECONDS = 10.0  # how often the table is checked for having been removed behind our back
_RETRY_SECONDS = 2.0


class NftError(Exception):
    """`nft` refused a transaction; the message holds its stderr."""


def unavailable_reason() -> str | None:
    """Why this host cannot use the nftables mode, or None."""
    if shutil.which("nft") is None:
        return "the nft command is not installed (Debian: apt-get install nftables)"
    if os.geteuid() != 0:
        return "nftables needs root (CAP_NET_ADMIN)"
    return None


async def _run(argv: Sequence[str], stdin: str | None = None) -> tuple[int, str]:
    done = await run_command(*argv, stdin=stdin)
    return done.code, (done.stderr or done.stdout).strip()


class NftablesDataplane:
    def __init__(self, *, table: str, command_prefix: Sequence[str] = ()) -> None:
        """`command_prefix` runs nft and conntrack elsewhere (tests: `ip netns exec NS`)."""
        self.table = table
        self.prefix = tuple(command_prefix)
        self._table = RuleTable()
        self._written: dict[ServicePortName, nftables.Block] | None = None  # None: table not written yet
        self._udp_flushes: list[list[str]] = []
        self.problems = RuleLog(log)
        # per Service port: the rule and frontends a block was built from, and the block, so a
        # sync builds only the blocks of ports that changed (each costs string formatting)
        self._built: dict[ServicePortName, tuple[PortRule, tuple[Frontend, ...], nftables.Block]] = {}
        self._lock = asyncio.Lock()
        # A new process replaces the table whole: not before it has heard every Service, else the
        # table of the process before it (still forwarding) would lose the Services not heard yet.
        self._holding = True
        self._dirty = False
        self._retry: asyncio.TimerHandle | None = None

    # -- the rule table --------------------------------------------------------

    def set_rules(self, key: Hashable, rules: list[PortRule]) -> None:
        self._udp_flushes += _conntrack_flushes(self._table.replace(key, rules), rules)
        self._dirty = True

    def rules(self) -> list[PortRule]:
        return self._table.all()

    def blocks(self) -> dict[ServicePortName, nftables.Block]:
        rules = self.rules()
        owners = self.problems.owners(rules)
        built: dict[ServicePortName, tuple[PortRule, tuple[Frontend, ...], nftables.Block]] = {}
        for r in rules:
            mine = tuple(fe for fe in r.frontends if owners.get(fe) == r.service_port)
            before = self._built.get(r.service_port)
            if before is not None and before[0] == r and before[1] == mine:
                built[r.service_port] = before
            else:
                built[r.service_port] = (r, mine, nftables.block(r, mine))
        self._built = built
        return {spn: b for spn, (_, _, b) in built.items()}

    # -- writing it -------------------------------------------------------------

    async def start(self) -> None:
        """The rule table is complete (informers synced): write it, and every change from now on."""
        self._holding = False
        self._dirty = True
        await self.sync()

    async def sync(self) -> None:
        """Write what changed since the last sync (coalesced; safe to call often; nothing before start)."""
        async with self._lock:
            if not self._dirty or self._holding:
                return
            self._dirty = False
            with SYNC_RULES_DURATION.time():
                try:
                    await self._write()
                except NftError as exc:
                    log.error("nftables sync failed (retrying in %.0f s): %s", _RETRY_SECONDS, exc)
                    self._written = None  # next time: replace the table whole
                    self._schedule_retry()
                    return
            SYNC_RULES_LAST.set_to_current_time()
            flushes, self._udp_flushes = self._udp_flushes, []
        for argv in flushes:
            await _run([*self.prefix, *argv])  # exit 1 "0 flow entries deleted" is the usual answer

    async def _write(self) -> None:
        blocks = self.blocks()
        if self._written is None:
            script = nftables.replace_script(self.table, blocks.values())
        else:
            script = nftables.update_script(self.table, self._written, blocks)
        if script:
            await self._nft(script)
        self._written = blocks

    async def apply(self, key: Hashable, rules: list[PortRule]) -> None:
        self.set_rules(key, rules)
        await self.sync()

    async def _nft(self, script: str) -> None:
        code, err = await _run([*self.prefix, "nft", "-f", "-"], script)
        if code != 0:
            raise NftError(err[:2000])

    def _schedule_retry(self) -> None:
        if self._retry is not None:
            return

        def retry() -> None:
            self._retry = None
            self._dirty = True
            asyncio.get_running_loop().create_task(self.sync())

        self._retry = asyncio.get_running_loop().call_later(_RETRY_SECONDS, retry)

    # -- upkeep -----------------------------------------------------------------

    async def table_present(self) -> bool:
        code, _ = await _run([*self.prefix, "nft", "-t", "list", "table", "ip", self.table])
        return code == 0

    async def run_checks(self, period: float = CHECK_SECONDS) -> None:
        """Someone ran `nft flush ruleset` (or a firewall reload did): write the table again."""
        while True:
            await asyncio.sleep(period)
            try:
                await self._check_table()
            except Exception:  # an upkeep check must not take the proxy (and every Service) down
                log.exception("checking table ip %s failed", self.table)

    async def _check_table(self) -> None:
        if self._written is not None and not await self.table_present():
            log.warning("table ip %s disappeared; writing it again", self.table)
            self._written = None
            self._dirty = True
            await self.sync()

    async def close(self) -> None:
        """The table stays: Services keep working while the proxy restarts (see cleanup)."""
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None

    async def cleanup(self) -> None:
        """Remove the table (`kubelite-proxy --cleanup`, or a test tearing down)."""
        await self._nft(nftables.delete_script(self.table))
        self._written = None


def _conntrack_flushes(old: list[PortRule], new: list[PortRule]) -> list[list[str]]:
    """conntrack commands for UDP frontends whose endpoints left (or whose port went), or that gained
    their first endpoint (entries of the packets rejected until then)."""
    after = {r.service_port: r for r in new}
    out: list[list[str]] = []
    for prev in old:
        if prev.service_port.protocol != "UDP":
            continue
        rule = after.get(prev.service_port)
        backends = rule.backends if rule is not None else ()
        for fe in prev.frontends:
            dest = [] if fe.ip == nftables.ANY_NODE_ADDRESS else ["--orig-dst", fe.ip]
            base = ["conntrack", "-D", "-p", "udp", *dest, "--orig-port-dst", str(fe.port)]
            if not prev.backends and backends:
                out.append(base)
            out += [[*base, "--dst-nat", b.ip] for b in sorted(set(prev.backends) - set(backends))]
    return out
