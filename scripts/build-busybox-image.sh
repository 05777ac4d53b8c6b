#!/usr/bin/env bash
# Build the tiny local images without any registry: a root filesystem holding Debian's
# static busybox plus its applet symlinks, turned into images with `docker import`:
#   kubelite/busybox:latest  a shell (CMD /bin/sh)
#   kubelite/httpd:latest    busybox httpd serving /var/www on port 80, under a shell that exits on
#                            SIGTERM (httpd as PID 1 would ignore it and wait out the grace period):
#                            a web server for charts and manifests that expect one
#   busybox:latest           the same as kubelite/busybox, under the name `helm create`'s
#                            default chart tests with (its test pod runs `wget` in `busybox`)
#
# Idempotent: does nothing when the images exist (FORCE=1 rebuilds).
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
HTTPD_IMAGE=${HTTPD_IMAGE:-kubelite/httpd:latest}
ALIAS_IMAGE=${ALIAS_IMAGE:-busybox:latest}
if [ "${FORCE:-0}" != 1 ] && docker image inspect "$IMAGE" "$HTTPD_IMAGE" "$ALIAS_IMAGE" >/dev/null 2>&1; then
    log "$IMAGE, $HTTPD_IMAGE and $ALIAS_IMAGE already exist"
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
mkdir -p "$rootfs/var/www"
printf '<html><body>kubelite/httpd</body></html>\n' >"$rootfs/var/www/index.html"

tar -C "$rootfs" -c . | docker import \
    --change 'CMD ["/bin/sh"]' \
    --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
    --message "kubelite busybox from $BUSYBOX" \
    - "$IMAGE" >/dev/null
log "built $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE") bytes)"
tar -C "$rootfs" -c . | docker import \
    --change 'CMD ["/bin/sh", "-c", "trap \"exit 0\" TERM; httpd -f -p 80 -h /var/www & wait"]' \
    --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'EXPOSE 80' \
    --message "kubelite httpd (busybox) from $BUSYBOX" \
    - "$HTTPD_IMAGE" >/dev/null
log "built $HTTPD_IMAGE"
docker tag "$IMAGE" "$ALIAS_IMAGE"
log "tagged $IMAGE as $ALIAS_IMAGE"
