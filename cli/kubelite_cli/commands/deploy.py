"""`kubelite deploy render|certs`: a lab of VMs with the command lines `kubelite lab up` runs.

`render` writes each VM's systemd units and configuration (kubelite_cli.lab.units; no secrets),
`certs` the cluster's credentials once, with each VM's share in a directory of its own, and the
admin's kubeconfig. deploy/install.sh installs one VM's directory. deploy/README.md.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from kubelite.client.kubeconfig import write_kubeconfig
from kubelite.credentials import (
    NATS_CONFIG,
    admin_credentials,
    ensure_credentials,
    ensure_peer_credentials,
    nats_config_text,
)
from kubelite_cli.errors import CLIError
from kubelite_cli.lab import topology, units
from kubelite_cli.lab.topology import LabSpec


def spec_from(args: argparse.Namespace) -> LabSpec:
    spec = LabSpec(control_planes=len(args.control_planes), workers=len(args.nodes), name=args.name,
                   runtime=args.runtime, proxy_mode=args.proxy_mode, addresses=(*args.control_planes, *args.nodes),
                   load_balancer=args.load_balancer)
    problems = spec.problems()
    if problems:
        raise CLIError(problems[0])
    return spec


def _hosts_line(spec: LabSpec) -> str:
    return ", ".join(f"{h.name} {h.ip}" for h in topology.hosts(spec)) + f", {units.LOAD_BALANCER} {spec.load_balancer}"


def run_deploy_render(args: argparse.Namespace) -> int:
    spec = spec_from(args)
    out = Path(args.out).expanduser()
    files = units.render(spec)
    for rel, text in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    print(f"wrote {len(files)} files for {_hosts_line(spec)} into {out}/<vm>/\n"
          f"next: `kubelite deploy certs ... --data-dir DIR`, then on each VM `sudo deploy/install.sh {out}/<vm>`")
    return 0


def run_deploy_certs(args: argparse.Namespace) -> int:
    spec = spec_from(args)
    data_dir = Path(args.data_dir).expanduser()
    workers = topology.workers(spec)
    pki = ensure_credentials(data_dir, topology.certificate_hosts(spec), nodes=[h.name for h in workers])
    ensure_peer_credentials(pki, [h.ip for h in topology.control_planes(spec)])
    available = sorted(p.name for p in pki.root.iterdir() if p.suffix in (".crt", ".key", ".pub", ".yaml"))
    for host in topology.hosts(spec):
        names = units.credential_files(spec, host.name, available)
        if not names:
            raise CLIError(f"no credentials for {host.name}: {pki.root} is incomplete")
        bundle = data_dir / host.name / "pki"
        if bundle.exists():
            shutil.rmtree(bundle)  # what a host holds is exactly its share, also after a change
        bundle.mkdir(parents=True, mode=0o700)
        for name in names:
            shutil.copy2(pki.root / name, bundle / name)
        if host in topology.control_planes(spec):  # nats.conf naming the files where the VM keeps them
            (bundle / NATS_CONFIG).write_text(nats_config_text(pki, installed_at=topology.VM_LAYOUT.pki))
    kubeconfig = data_dir / "kubeconfig"
    write_kubeconfig(str(kubeconfig), topology.apiserver_url(spec), topology.nats_urls(spec), admin_credentials(pki))
    print(f"credentials for {_hosts_line(spec)} in {pki.root}; each VM's share in {data_dir}/<vm>/pki\n"
          f"admin kubeconfig: {kubeconfig} (server {topology.apiserver_url(spec)})")
    return 0
