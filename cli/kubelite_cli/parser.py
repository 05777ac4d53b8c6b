"""The argparse tree: global flags and one subcommand per verb."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn


def _lazy(module: str, func: str = "run") -> Callable[[argparse.Namespace], int]:
    """Import a verb's module only when it runs (keeps `kubelite version` fast)."""

    def handler(args: argparse.Namespace) -> int:
        import importlib

        return getattr(importlib.import_module(f"kubelite_cli.commands.{module}"), func)(args)

    return handler


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


# Global flags may come before or after the verb, so their actions default to
# SUPPRESS (a subcommand must not overwrite a value given before it) and the
# real defaults are filled in after parsing. (The actions are shared between
# parsers, so `set_defaults` on one would change them for all.)
GLOBAL_DEFAULTS = {"kubeconfig": None, "context": None, "namespace": None, "log_level": "warning"}


class OneLineErrorParser(argparse.ArgumentParser):
    """Usage errors as one stderr line and exit 1, like every other kubelite error."""

    def error(self, message: str) -> NoReturn:
        self.exit(1, f"error: {message} (see '{self.prog} --help')\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # kubectl lets positionals follow flags (`label cm -l app=x key=value`); argparse stops a
    # nargs="+" list at the first flag, so the rest arrive here and join the verb's arguments
    if extra and isinstance(getattr(args, "args", None), list) and not any(e.startswith("-") for e in extra):
        args.args += extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    for key, value in GLOBAL_DEFAULTS.items():
        if not hasattr(args, key):
            setattr(args, key, value)
    return args


def _add_output(p: argparse.ArgumentParser, choices: tuple[str, ...]) -> None:
    p.add_argument("-o", "--output", choices=choices, default=None,
                   help="output format: " + "|".join(choices))


def build_parser() -> argparse.ArgumentParser:
    common = OneLineErrorParser(add_help=False)
    common.add_argument("--kubeconfig", default=argparse.SUPPRESS,
                        help="kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    common.add_argument("--context", default=argparse.SUPPRESS, help="kubeconfig context to use")
    common.add_argument("-n", "--namespace", default=argparse.SUPPRESS, help="namespace")
    common.add_argument("--log-level", default=argparse.SUPPRESS,
                        choices=["debug", "info", "warning", "error"], help="log level (stderr)")

    parser = OneLineErrorParser(
        prog="kubelite", parents=[common],
        description="Drive a kubelite cluster (kubectl-like), and run one locally.",
    )
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", parser_class=OneLineErrorParser)

    def verb(name: str, help_text: str, handler: Callable[..., Any]) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, parents=[common], description=help_text)
        p.set_defaults(handler=handler)
        return p

    p = verb("apply", "create or update objects from manifests", _lazy("apply"))
    p.add_argument("-f", "--filename", action="append", required=True,
                   help="file, directory of manifests, or - for stdin (repeatable)")
    p.add_argument("--dry-run", choices=["none", "server"], default="none")
    _add_output(p, ("name",))

    p = verb("logs", "print a container's log", _lazy("logs"))
    p.add_argument("pod", help="pod name (or pod/NAME)")
    p.add_argument("-c", "--container", help="container name (needed when the pod has several)")
    p.add_argument("-f", "--follow", action="store_true", help="stream new output")
    p.add_argument("--tail", type=int, default=None, help="lines from the end (default: all)")
    p.add_argument("-p", "--previous", action="store_true", help="the previous (restarted) container")
    p.add_argument("--timestamps", action="store_true", help="prefix each line with its time")

    p = verb("get", "list or show objects", _lazy("get"))
    p.add_argument("resource", help="resource type (pods, po, deploy, svc, all, ...)")
    p.add_argument("names", nargs="*", help="object names")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("-l", "--selector", help="label selector, e.g. app=web,tier!=db")
    p.add_argument("--field-selector", help="field selector, e.g. spec.nodeName=node-1")
    _add_output(p, ("wide", "yaml", "json", "name"))
    p.add_argument("-w", "--watch", action="store_true", help="after listing, watch for changes")
    p.add_argument("--show-labels", action="store_true")
    p.add_argument("--request-timeout", type=float, default=None,
                   help="stop watching after this many seconds")

    p = verb("describe", "show an object in detail, with its events", _lazy("describe"))
    p.add_argument("resource")
    p.add_argument("names", nargs="+")

    p = verb("delete", "delete objects by name or from manifests", _lazy("delete"))
    p.add_argument("resource", nargs="?", help="resource type")
    p.add_argument("names", nargs="*")
    p.add_argument("-f", "--filename", action="append")
    p.add_argument("--all", action="store_true", help="every object of the type in the namespace")
    p.add_argument("-l", "--selector")
    p.add_argument("--grace-period", type=int, default=-1,
                   help="seconds to let pods stop (-1: the object's default; 0: immediately)")
    p.add_argument("--cascade", choices=["background", "foreground", "orphan"],
                   default="background")
    p.add_argument("--ignore-not-found", action="store_true")
    _add_output(p, ("name",))

    p = verb("events", "cluster events: API Event objects, or with -f the live NATS bus",
             _lazy("events"))
    p.add_argument("-f", "--follow", action="store_true",
                   help="stream every message on the bus (kubelite.>, except API RPC traffic)")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("--nats", help="NATS URL (default: from the kubeconfig's kubelite extension)")
    p.add_argument("--subject", default="kubelite.>", help="subject filter for -f")
    p.add_argument("--all", action="store_true",
                   help="with -f, heartbeats too (lease renewals, metrics reports, unchanged node status, "
                        "per-node copies of pod changes)")
    p.add_argument("--timeout", type=float, default=None, help="stop following after N seconds")

    verb("version", "client and server versions", _lazy("version"))

    from kubelite_cli.commands.workload_verbs import add_workload_verbs  # scale, rollout, set image

    add_workload_verbs(sub, common, _lazy)

    p = verb("up", "start a local cluster (etcd, NATS, every service)",
             _lazy("cluster", "run_up"))
    p.add_argument("--data-dir", required=True)
    p.add_argument("--nodes", type=int, default=1)
    p.add_argument("--runtime", choices=["process", "docker", "fake"], default="process")
    p.add_argument("--node-monitor-grace-period", default=None,
                   help="controller-manager: time before an unresponsive node is NotReady (e.g. 40s)")
    p.add_argument("--default-unreachable-toleration-seconds", type=int, default=None)
    p.add_argument("--default-not-ready-toleration-seconds", type=int, default=None)
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds to wait for the apiserver to become ready")
    p.add_argument("--only", default=None, metavar="NAME[,NAME...]",
                   help="start only these services of the table (etcd, NATS and the apiserver "
                        "always run), e.g. --only apiserver to run the others by hand")
    p.add_argument("--settle-seconds", type=float, default=1.0,
                   help="after start, watch this long for services that crash at once")
    p.add_argument("--random-ports", action="store_true",
                   help="never use the default ports (2379, 4222, 6443); for tests")
    p.add_argument("--keep-pods", action="store_true",
                   help="leave pods running when the cluster stops, for the next `up` to adopt")
    p.add_argument("--metrics-resolution", default=None, metavar="DURATION",
                   help="how often node agents report resource metrics for kubectl top (default 15s)")
    p.add_argument("--horizontal-pod-autoscaler-sync-period", dest="hpa_sync_period", default=None,
                   metavar="DURATION", help="how often each HorizontalPodAutoscaler is evaluated (default 15s)")
    p.add_argument("-f", "--filename", action="append", default=None,
                   help="then apply these manifests and wait until their workloads are available (repeatable)")
    p.add_argument("--wait-timeout", type=float, default=180.0,
                   help="seconds to wait for the -f workloads to be available (default 180)")

    p = verb("certs", "create (once) the cluster's CAs and certificates, and an admin kubeconfig",
             _lazy("cluster", "run_certs"))
    p.add_argument("--data-dir", required=True, help="they go to DATA_DIR/pki and DATA_DIR/kubeconfig")
    p.add_argument("--host", action="append", default=[],
                   help="another name or address the apiserver is reached by (repeatable)")
    p.add_argument("--server", default=None,
                   help="the apiserver URL the kubeconfig names (default: the running `up` cluster's, "
                        "else https://127.0.0.1:6443)")
    p.add_argument("--nats", default=None,
                   help="the NATS URL the kubeconfig names (default: the running cluster's, else nats://127.0.0.1:4222)")
    p.add_argument("--node", action="append", default=[], metavar="NAME",
                   help="a node's agent and proxy certificates, and its NATS permissions (repeatable; "
                        "or several, separated by commas or spaces)")
    p.add_argument("--node-simulator", action="store_true",
                   help="the one certificate a fake-node agent (--fake-nodes) uses for all its nodes")

    p = sub.add_parser("encryption", parents=[common], help="encryption of Secrets at rest",
                       description="Encryption of Secrets at rest (the EncryptionConfiguration in DATA_DIR/pki).")
    esub = p.add_subparsers(dest="encryption_verb", metavar="SUBCOMMAND", required=True)
    p = esub.add_parser("rotate", parents=[common], help="a new key for Secrets, and every Secret rewritten with it",
                        description="Put a new key first in DATA_DIR/pki/encryption.yaml, have the apiserver "
                                    "rewrite every Secret with it, and check etcd until all are.")
    p.set_defaults(handler=_lazy("encryption", "run_rotate"))
    p.add_argument("--data-dir", required=True)
    p.add_argument("--etcd", default=None, help="etcd URL to check (default: the `up` cluster's)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for every Secret (default 60)")
    p.add_argument("--retire-old", action="store_true",
                   help="then drop the old keys (with several apiservers, only once every one has re-read the file)")

    p = verb("down", "stop a local cluster started by `up`", _lazy("cluster", "run_down"))
    p.add_argument("--data-dir", required=True)
    p.add_argument("--timeout", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL")

    p = verb("status", "show the processes of a local cluster", _lazy("cluster", "run_status"))
    p.add_argument("--data-dir", required=True)
    _lab_parser(sub, common)
    return parser


def _lab_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """`kubelite lab up|status|down`: hosts as network namespaces, an HA control plane (docs/lab.md)."""
    p = sub.add_parser("lab", parents=[common], help="a lab of hosts on this machine: HA control plane, workers",
                       description="A lab of hosts on this machine (network namespaces on a bridge): "
                                   "control-plane hosts with an etcd and a NATS cluster, apiservers behind "
                                   "HAProxy, schedulers and controller-managers; worker hosts with a node "
                                   "agent and a proxy each. Needs root.")
    lsub = p.add_subparsers(dest="lab_verb", metavar="SUBCOMMAND", required=True, parser_class=OneLineErrorParser)
    shape = OneLineErrorParser(add_help=False)
    shape.add_argument("--data-dir", default=".kubelite-lab", help="where its state, certificates, data and logs "
                       "go (default .kubelite-lab)")
    shape.add_argument("--name", default="klab", help="prefix of its namespaces and links (default klab)")
    shape.add_argument("--subnet", default="10.77.0.0/24", help="the hosts' network (default 10.77.0.0/24)")
    up = lsub.add_parser("up", parents=[common, shape], help="create the hosts and start everything on them")
    up.set_defaults(handler=_lazy("lab", "run_lab_up"))
    up.add_argument("--nodes", type=int, default=3, help="worker hosts (default 3)")
    up.add_argument("--control-planes", type=int, default=3, help="control-plane hosts (default 3)")
    up.add_argument("--runtime", choices=["process", "docker", "fake"], default="process")
    up.add_argument("--proxy-mode", choices=["userspace", "nftables"], default="",
                    help="the workers' Service data path (default: the proxy's, nftables where it works)")
    up.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for each step (default 90)")
    st = lsub.add_parser("status", parents=[common, shape], help="hosts, processes, logs and metrics URLs")
    st.set_defaults(handler=_lazy("lab", "run_lab_status"))
    down = lsub.add_parser("down", parents=[common, shape], help="stop everything and remove the hosts")
    down.set_defaults(handler=_lazy("lab", "run_lab_down"))
    down.add_argument("--timeout", type=float, default=10.0, help="seconds between SIGTERM and SIGKILL")
    for q in (st, down):
        q.add_argument("--nodes", type=int, default=3, help=argparse.SUPPRESS)
        q.add_argument("--control-planes", type=int, default=3, help=argparse.SUPPRESS)
        q.add_argument("--runtime", default="process", help=argparse.SUPPRESS)
        q.add_argument("--proxy-mode", default="", help=argparse.SUPPRESS)

    _deploy_parser(sub, common)

    p = sub.add_parser("chaos", parents=[common], help="faults injected into a running lab, invariants checked",
                       description="Kill, pause, partition and slow the parts of a lab (`kubelite lab up`) while a "
                                   "Deployment behind a Service takes steady traffic and the API steady writes; one "
                                   "verdict line per invariant, non-zero exit on any failure, and a report directory.")
    csub = p.add_subparsers(dest="chaos_verb", metavar="SUBCOMMAND", required=True, parser_class=OneLineErrorParser)
    where = OneLineErrorParser(add_help=False)
    where.add_argument("--data-dir", default=".kubelite-lab", help="the lab's data dir (default .kubelite-lab)")
    q = csub.add_parser("list", parents=[common, where], help="the scenarios this lab can run")
    q.set_defaults(handler=_lazy("chaos", "run_chaos_list"))
    q = csub.add_parser("run", parents=[common, where], help="run scenarios (names, or --all)")
    q.set_defaults(handler=_lazy("chaos", "run_chaos_run"))
    q.add_argument("scenario", nargs="*", help="scenario names (`kubelite chaos list`)")
    q.add_argument("--all", action="store_true", help="every scenario, one after the other")
    q.add_argument("--report", default=None, metavar="DIR",
                   help="where report.html and events.json go (default DATA_DIR/chaos/<time>)")
    q.add_argument("--repeat", type=_positive_int, default=1, metavar="N",
                   help="run the scenarios N times and print the median figures (default 1)")
    q.add_argument("--converge-timeout", type=float, default=90.0,
                   help="seconds recovery may take before a scenario fails (default 90)")


def _addresses(text: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in text.split(",") if a.strip())


def _deploy_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """`kubelite deploy render|certs`: the lab's command lines as systemd units for VMs (deploy/README.md)."""
    p = sub.add_parser("deploy", parents=[common], help="systemd units and credentials for a lab of VMs",
                       description="The processes `kubelite lab up` runs, as systemd units for VMs at the "
                                   "addresses given (deploy/README.md).")
    dsub = p.add_subparsers(dest="deploy_verb", metavar="SUBCOMMAND", required=True, parser_class=OneLineErrorParser)
    shape = OneLineErrorParser(add_help=False)
    shape.add_argument("--control-planes", type=_addresses, required=True, metavar="IP,IP,IP",
                       help="the control-plane VMs' addresses (cp-1, cp-2, ...): 1, 3, 5 or 7")
    shape.add_argument("--nodes", type=_addresses, required=True, metavar="IP,...",
                       help="the worker VMs' addresses (nodes w-1, w-2, ...)")
    shape.add_argument("--load-balancer", required=True, metavar="IP",
                       help="the machine that runs HAProxy in front of the apiservers (kubectl's address)")
    shape.add_argument("--runtime", choices=["process", "docker"], default="process")
    shape.add_argument("--proxy-mode", choices=["userspace", "nftables"], default="",
                       help="the workers' Service data path (default: the proxy's, nftables where it works)")
    shape.add_argument("--name", default="klab", help="the etcd and NATS clusters' name (default klab)")
    q = dsub.add_parser("render", parents=[common, shape], help="write every VM's units and configuration")
    q.set_defaults(handler=_lazy("deploy", "run_deploy_render"))
    q.add_argument("--out", required=True, metavar="DIR", help="one directory per VM is written here")
    q = dsub.add_parser("certs", parents=[common, shape], help="make the cluster's credentials, one bundle per VM")
    q.set_defaults(handler=_lazy("deploy", "run_deploy_certs"))
    q.add_argument("--data-dir", required=True, metavar="DIR",
                   help="DIR/pki holds every credential, DIR/<vm>/pki what that VM needs, DIR/kubeconfig the admin's")
