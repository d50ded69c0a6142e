#!/usr/bin/env bash
# Build the offline base image for socket-grader pods with debootstrap.
# Run with --help for details.
set -euo pipefail

DEFAULT_IMAGE="socket-grader/base:bookworm"
SUITE=${SOCKET_GRADER_SUITE:-bookworm}
PACKAGES="python3,gcc,make,libc6-dev,nginx,curl"
FALLBACK_MIRROR="http://deb.debian.org/debian"
LABEL="org.socket-grader.base=1"

usage() {
    cat <<EOF
Usage: $(basename "$0") [--force] [IMAGE]

Build the socket-grader base image without any container registry:
debootstrap a minimal Debian ${SUITE} root file system (variant minbase,
plus ${PACKAGES//,/, }) from the Debian mirror this machine's apt uses,
strip apt caches and documentation, and load it with 'docker import'.

  IMAGE     image name to create (default: ${DEFAULT_IMAGE})
  --force   rebuild even if IMAGE already exists
  -h, --help  show this help

The image has python3 (3.11 on bookworm) for Python submissions and the
grader's helpers, gcc, make and libc6-dev to compile C submissions, and nginx
and curl: the http assignment's references nobody here wrote (a real server
and a real client; students' submissions may use them too).
It carries the label ${LABEL} and CMD ["/bin/sh"].

Mirror: taken from /etc/apt/sources.list and /etc/apt/sources.list.d/*.list
or *.sources (deb822); falls back to ${FALLBACK_MIRROR}.
Override with DEBIAN_MIRROR=URL. Needs root, debootstrap and a running
docker engine. Takes a few minutes; does nothing if IMAGE exists.

Users with registry access do not need this script: any image with python3
works (set SOCKET_GRADER_IMAGE), e.g. python:3.12-slim for Python
submissions, or gcc:13 plus python3 (apt-get install python3) for C.
EOF
}

log() { printf '[build-base-image] %s\n' "$*"; }
die() { printf '[build-base-image] error: %s\n' "$*" >&2; exit 1; }

FORCE=0
IMAGE=""
while (($#)); do
    case $1 in
        -h|--help) usage; exit 0 ;;
        -f|--force) FORCE=1 ;;
        -*) usage >&2; die "unknown option: $1" ;;
        *) [[ -z $IMAGE ]] || die "only one IMAGE may be given"; IMAGE=$1 ;;
    esac
    shift
done
IMAGE=${IMAGE:-$DEFAULT_IMAGE}

START=$SECONDS
elapsed() { echo "$((SECONDS - START))s"; }

command -v docker >/dev/null || die "docker CLI not found (apt-get install -y docker.io)"
docker info >/dev/null 2>&1 || die "docker engine does not answer (start it, e.g. .ci/start-dockerd)"

if ((FORCE == 0)) && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "image $IMAGE already exists; skipping (use --force to rebuild)"
    exit 0
fi

OLD_ID=$(docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)

command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install -y debootstrap)"
((EUID == 0)) || die "debootstrap needs root"

# --- find the Debian mirror apt uses -------------------------------------
# Print candidate URIs of "deb" sources, main archive first (a suite equal to
# $SUITE), e.g. "0 http://deb.debian.org/debian".
apt_source_uris() {
    local f
    if [[ -f /etc/apt/sources.list ]]; then
        # one-line format: deb [options] URI suite [components...]
        awk -v suite="$SUITE" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                uri = $i; s = $(i + 1)
                print (s == suite ? 0 : 1), uri
            }' /etc/apt/sources.list
    fi
    for f in /etc/apt/sources.list.d/*.list; do
        [[ -f $f ]] || continue
        awk -v suite="$SUITE" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                uri = $i; s = $(i + 1)
                print (s == suite ? 0 : 1), uri
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        # deb822: blank-line separated stanzas of "Key: value" fields.
        awk -v suite="$SUITE" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && enabled !~ /^(no|false|0)$/ && uris != "") {
                    n = split(uris, u, " ")
                    for (k = 1; k <= n; k++)
                        print ((" " suites " ") ~ (" " suite " ") ? 0 : 1), u[k]
                }
                types = ""; uris = ""; suites = ""; enabled = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            {
                line = $0
                key = tolower(line); sub(/:.*/, "", key)
                val = line; sub(/^[^:]*:[ \t]*/, "", val)
                gsub(/[ \t]+/, " ", val)
                if (key == "types") types = val
                else if (key == "uris") uris = val
                else if (key == "suites") suites = val
                else if (key == "enabled") enabled = tolower(val)
            }
            END { flush() }' "$f"
    done
}

find_mirror() {
    if [[ -n ${DEBIAN_MIRROR:-} ]]; then
        echo "$DEBIAN_MIRROR"; return
    fi
    local _prio uri
    while read -r _prio uri; do
        case $uri in
            http://*|https://*) ;;
            *) continue ;;
        esac
        # Only the main archive can bootstrap (not -security, not third party).
        [[ $uri == *debian-security* || $uri == *security.debian.org* ]] && continue
        [[ $uri == *debian* ]] || continue
        echo "${uri%/}"; return
    done < <(apt_source_uris 2>/dev/null | sort -s -k1,1n)
    echo "$FALLBACK_MIRROR"
}

MIRROR=$(find_mirror)
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)

# --- debootstrap into a temp dir, always cleaned up -----------------------
WORKDIR=$(mktemp -d "${TMPDIR:-/var/tmp}/socket-grader-rootfs.XXXXXX")
cleanup() {
    local rc=$? m
    # An interrupted debootstrap can leave proc/sys mounted inside the rootfs.
    if [[ -d $WORKDIR ]]; then
        while read -r m; do
            umount -l "$m" 2>/dev/null || true
        done < <(awk -v d="$WORKDIR/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
        rm -rf --one-file-system "$WORKDIR"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ROOTFS=$WORKDIR/rootfs
log "building $IMAGE: debootstrap --variant=minbase $SUITE ($ARCH) from $MIRROR"
log "packages: $PACKAGES; work dir: $WORKDIR"
if ! debootstrap --variant=minbase --arch="$ARCH" --include="$PACKAGES" \
        "$SUITE" "$ROOTFS" "$MIRROR" >"$WORKDIR/debootstrap.log" 2>&1; then
    tail -n 40 "$WORKDIR/debootstrap.log" >&2
    [[ -f $ROOTFS/debootstrap/debootstrap.log ]] && tail -n 40 "$ROOTFS/debootstrap/debootstrap.log" >&2
    die "debootstrap failed after $(elapsed)"
fi
log "debootstrap done after $(elapsed)"

# --- trim -----------------------------------------------------------------
log "removing apt caches, docs, man pages and locales"
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb \
       "$ROOTFS"/var/cache/apt/*.bin \
       "$ROOTFS"/var/lib/apt/lists/* \
       "$ROOTFS"/usr/share/doc/* \
       "$ROOTFS"/usr/share/man/* \
       "$ROOTFS"/usr/share/info/* \
       "$ROOTFS"/usr/share/lintian \
       "$ROOTFS"/usr/share/locale/* \
       "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/* \
       "$ROOTFS"/var/cache/debconf/*-old \
       "$ROOTFS"/debootstrap
# Python's compiled standard library stays, made afresh: containers run read-only, so
# without it every Python start in a pod (the probe, each server and client run) compiles
# the modules it imports, about 0.1 s of CPU each time, a third of a grading's.
find "$ROOTFS" -xdev -name __pycache__ -type d -prune -exec rm -rf {} +
log "compiling Python's standard library"
chroot "$ROOTFS" /usr/bin/python3 -c '
import compileall, os, sys, sysconfig
folders = [sysconfig.get_path("stdlib"), "/usr/lib/python3/dist-packages"]
sys.exit(not all(compileall.compile_dir(f, quiet=1) for f in folders if os.path.isdir(f)))
' >/dev/null || die "compiling Python's standard library failed in the new root file system"
# Host details debootstrap copied in; docker provides its own at run time.
: >"$ROOTFS/etc/resolv.conf"
echo localhost >"$ROOTFS/etc/hostname"
: >"$ROOTFS/etc/machine-id" 2>/dev/null || true
log "root file system: $(du -sh --one-file-system "$ROOTFS" | cut -f1)"

# --- import -----------------------------------------------------------------
log "importing into docker as $IMAGE"
tar --numeric-owner -C "$ROOTFS" -c . | docker import \
    --change 'CMD ["/bin/sh"]' \
    --change "LABEL $LABEL" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --message "socket-grader base: debootstrap $SUITE minbase + $PACKAGES" \
    - "$IMAGE" >/dev/null

# A --force rebuild leaves the previous image untagged: drop it if unused.
NEW_ID=$(docker image inspect --format '{{.Id}}' "$IMAGE")
if [[ -n $OLD_ID && $OLD_ID != "$NEW_ID" ]]; then
    if docker image rm "$OLD_ID" >/dev/null 2>&1; then log "removed previous image ${OLD_ID:7:12}"; fi
fi

# --- smoke test -----------------------------------------------------------
docker run --rm --network none "$IMAGE" sh -c \
    'python3 -c "import sys; assert sys.version_info >= (3, 11), sys.version; print(\"python\", sys.version.split()[0])" &&
     gcc --version | head -n 1 && make --version | head -n 1 &&
     nginx -v 2>&1 && curl --version | head -n 1' |
    sed 's/^/[build-base-image]   /'
SIZE=$(docker image inspect --format '{{.Size}}' "$IMAGE")
log "built $IMAGE ($((SIZE / 1024 / 1024)) MB) in $(elapsed)"
