#!/usr/bin/env bash
# Build the tiny local image `kubelite/busybox:latest` without any registry:
# a root filesystem holding Debian's static busybox plus its applet symlinks,
# turned into an image with `docker import`.
#
# Idempotent: does nothing when the image exists (FORCE=1 rebuilds).
# Exits 0 with a warning when Docker or busybox is unavailable, so CI goes on
# and the Docker tests skip.
set -euo pipefail

IMAGE=${IMAGE:-kubelite/busybox:latest}
BUSYBOX=${BUSYBOX:-/bin/busybox}

log() { echo "build-busybox-image: $*"; }
warn() { echo "build-busybox-image: WARNING: $*" >&2; }

if ! command -v docker >/dev/null || ! timeout 10 docker info >/dev/null 2>&1; then
    warn "no Docker daemon answers; not building $IMAGE"
    exit 0
fi
if [ "${FORCE:-0}" != 1 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE already exists"
    exit 0
fi
if [ ! -x "$BUSYBOX" ] || ! "$BUSYBOX" --list >/dev/null 2>&1; then
    warn "$BUSYBOX missing (apt-get install busybox-static); not building $IMAGE"
    exit 0
fi
# A dynamically linked busybox would need the host's libc inside the image.
if command -v file >/dev/null && ! file -L "$BUSYBOX" | grep -q 'statically linked'; then
    warn "$BUSYBOX is not statically linked; the image would not run"
    exit 0
fi

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,root,var/log,home}
chmod 1777 "$rootfs/tmp"
cp "$BUSYBOX" "$rootfs/bin/busybox"
# `busybox --list-full` prints each applet with its install path (bin/sh, usr/bin/wget …).
"$BUSYBOX" --list-full | while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$rootfs/$(dirname "$applet")"
    ln -sf /bin/busybox "$rootfs/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"

tar -C "$rootfs" -c . | docker import \
    --change 'CMD ["/bin/sh"]' \
    --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
    --message "kubelite busybox from $BUSYBOX" \
    - "$IMAGE" >/dev/null
log "built $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE") bytes)"
