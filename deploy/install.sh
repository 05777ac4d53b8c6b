#!/usr/bin/env bash
# Install kubelite from this checkout onto this VM, with this VM's directory from
# `kubelite deploy render` (units, nats.conf, haproxy.cfg) and `kubelite deploy certs` (pki/).
#
#   sudo deploy/install.sh /path/to/lab/cp-1     # a control plane: etcd, NATS, apiserver, scheduler, controller-manager
#   sudo deploy/install.sh /path/to/lab/w-1      # a worker: node agent and proxy
#   sudo deploy/install.sh /path/to/lab/lb       # the load balancer: HAProxy (Debian's haproxy package)
#
# Installs the packages (not editable: the checkout may go away) into /opt/kubelite/venv, links
# etcd and nats-server from their wheels into /opt/kubelite/bin, copies the VM's units into
# /etc/systemd/system, its configuration into /var/lib/kubelite (nats.conf) or /etc/kubelite
# (haproxy.cfg), and its credentials into /var/lib/kubelite/pki (0700). Re-running upgrades in
# place. Nothing is started: it prints the `systemctl enable --now` line.
#
# The paths are the ones the units name (kubelite_cli.lab.units); to change them, render again.
# Env: PYTHON (python3, must be 3.11+), UNIT_DIR (/etc/systemd/system; a test installs elsewhere
# with ROOT=/some/dir, which prefixes every path).
set -euo pipefail

VM_DIR=${1:-}
ROOT=${ROOT:-}
PREFIX=$ROOT/opt/kubelite
UNIT_DIR=${UNIT_DIR:-$ROOT/etc/systemd/system}
CONF_DIR=$ROOT/etc/kubelite
STATE_DIR=$ROOT/var/lib/kubelite
PYTHON=${PYTHON:-python3}
SRC=$(cd "$(dirname "$0")/.." && pwd)

if [ -z "$VM_DIR" ] || ! ls "$VM_DIR"/kubelite-*.service >/dev/null 2>&1; then
    echo "usage: $0 DIR/<vm>   (a directory written by \`kubelite deploy render --out DIR\`)" >&2
    exit 2
fi
UNITS=()
for f in "$VM_DIR"/kubelite-*.service; do UNITS+=("$(basename "$f")"); done
needs_python=0
for u in "${UNITS[@]}"; do [ "$u" = kubelite-haproxy.service ] || needs_python=1; done

if [ "$needs_python" = 1 ]; then
    "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "kubelite needs Python 3.11+")'
    echo "installing kubelite from $SRC into $PREFIX/venv"
    mkdir -p "$PREFIX/bin" "$PREFIX/deploy"
    [ -x "$PREFIX/venv/bin/python" ] || "$PYTHON" -m venv "$PREFIX/venv"
    "$PREFIX/venv/bin/python" -m pip install -q --upgrade pip
    "$PREFIX/venv/bin/python" -m pip install -q --upgrade \
        "$SRC/core" "$SRC/cli" "$SRC/services/apiserver" "$SRC/services/scheduler" \
        "$SRC/services/controller-manager" "$SRC/services/nodeagent" "$SRC/services/proxy"
    # The real server binaries (the venv's bin/etcd is a Python wrapper around them).
    ln -sf "$("$PREFIX/venv/bin/python" -c 'from kubelite.devservers import etcd_binary as b; print(b())')" \
        "$PREFIX/bin/etcd"
    ln -sf "$("$PREFIX/venv/bin/python" -c 'from kubelite.devservers import nats_binary as b; print(b())')" \
        "$PREFIX/bin/nats-server"
    ln -sf "$PREFIX/venv/bin/kubelite" "$PREFIX/bin/kubelite"
    cp "$SRC/deploy/README.md" "$PREFIX/deploy/README.md"
elif ! command -v haproxy >/dev/null; then
    echo "the load balancer needs haproxy: apt-get install haproxy" >&2
    exit 1
fi

mkdir -p "$CONF_DIR" "$STATE_DIR" "$UNIT_DIR"
[ ! -f "$VM_DIR/nats.conf" ] || install -m 0644 "$VM_DIR/nats.conf" "$STATE_DIR/nats.conf"
[ ! -f "$VM_DIR/haproxy.cfg" ] || install -m 0644 "$VM_DIR/haproxy.cfg" "$CONF_DIR/haproxy.cfg"
if [ -d "$VM_DIR/pki" ]; then
    install -d -m 0700 "$STATE_DIR/pki"
    cp -p "$VM_DIR"/pki/* "$STATE_DIR/pki/"
    chmod 0600 "$STATE_DIR"/pki/*.key
    echo "installed $(ls "$VM_DIR/pki" | wc -l) credential files into $STATE_DIR/pki"
elif [ "$needs_python" = 1 ] && [ ! -d "$STATE_DIR/pki" ]; then
    echo "warning: no $VM_DIR/pki and none installed: \`kubelite deploy certs ... --data-dir DIR\` makes it" >&2
fi
for unit in "${UNITS[@]}"; do
    install -m 0644 "$VM_DIR/$unit" "$UNIT_DIR/$unit"
done
if [ "$UNIT_DIR" = /etc/systemd/system ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi

echo "installed units: ${UNITS[*]}"
echo "next: systemctl enable --now ${UNITS[*]}"
