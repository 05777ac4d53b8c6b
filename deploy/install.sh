#!/usr/bin/env bash
# Install kubelite from this checkout onto this machine, for a lab of VMs.
#
#   sudo deploy/install.sh control-plane   # etcd, NATS, apiserver, scheduler, controller-manager
#   sudo deploy/install.sh node            # node agent and proxy
#   sudo deploy/install.sh all             # both (a one-VM lab, or a control plane that runs pods)
#
# Installs the packages (not editable: the checkout may go away) into
# $PREFIX/venv, links etcd and nats-server from their wheels into $PREFIX/bin,
# installs the role's systemd units, and /etc/kubelite/kubelite.env if absent.
# Re-running upgrades in place and keeps the env file. Nothing is started:
# edit the env file, then `systemctl enable --now` the units it prints.
#
# Env: PREFIX (/opt/kubelite), UNIT_DIR (/etc/systemd/system), CONF_DIR (/etc/kubelite),
#      STATE_DIR (/var/lib/kubelite), PYTHON (python3, must be 3.11+).
set -euo pipefail

ROLE=${1:-}
PREFIX=${PREFIX:-/opt/kubelite}
UNIT_DIR=${UNIT_DIR:-/etc/systemd/system}
CONF_DIR=${CONF_DIR:-/etc/kubelite}
STATE_DIR=${STATE_DIR:-/var/lib/kubelite}
PYTHON=${PYTHON:-python3}
SRC=$(cd "$(dirname "$0")/.." && pwd)

CONTROL_PLANE_UNITS=(kubelite-etcd kubelite-nats kubelite-apiserver kubelite-scheduler
    kubelite-controller-manager)
NODE_UNITS=(kubelite-nodeagent kubelite-proxy)
case "$ROLE" in
    control-plane) UNITS=("${CONTROL_PLANE_UNITS[@]}") ;;
    node) UNITS=("${NODE_UNITS[@]}") ;;
    all) UNITS=("${CONTROL_PLANE_UNITS[@]}" "${NODE_UNITS[@]}") ;;
    *) echo "usage: $0 control-plane|node|all" >&2; exit 2 ;;
esac

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

mkdir -p "$CONF_DIR" "$STATE_DIR"
if [ ! -e "$CONF_DIR/kubelite.env" ]; then
    install -m 0644 "$SRC/deploy/kubelite.env" "$CONF_DIR/kubelite.env"
    echo "wrote $CONF_DIR/kubelite.env: set KUBELITE_CONTROL_PLANE_IP and KUBELITE_NATS"
else
    echo "kept $CONF_DIR/kubelite.env"
fi

mkdir -p "$UNIT_DIR"
for unit in "${UNITS[@]}"; do
    # Units name /opt/kubelite, /etc/kubelite, /var/lib/kubelite; follow the settings.
    sed -e "s#/opt/kubelite#$PREFIX#g" -e "s#/etc/kubelite#$CONF_DIR#g" \
        -e "s#/var/lib/kubelite#$STATE_DIR#g" \
        "$SRC/deploy/systemd/$unit.service" >"$UNIT_DIR/$unit.service"
done
if [ "$UNIT_DIR" = /etc/systemd/system ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi

echo "installed units: ${UNITS[*]/%/.service}"
echo "next: edit $CONF_DIR/kubelite.env, then"
echo "  systemctl enable --now ${UNITS[*]/%/.service}"
