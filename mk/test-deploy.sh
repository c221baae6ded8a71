#!/bin/sh
# `make test-deploy`: deploy/Dockerfile and deploy/docker-compose.yml, for real, then every
# test under tests/deploy/. As root on Debian 12, like `make test`:
#   - installs Debian's docker.io, docker-compose, debootstrap and python3-yaml when missing;
#   - starts dockerd when none answers (and stops it at the end, on failure too);
#   - makes the base image debian:bookworm-slim with debootstrap when it is absent (this
#     test pulls from no registry; elsewhere `docker build` simply pulls it);
#   - builds herd:latest from deploy/Dockerfile and prints its size;
#   - runs /usr/bin/python3 -m pytest tests/deploy: the compose cluster (its CurveZMQ keys,
#     a run checked against the sample services' count with unknown workers refused, a
#     worker killed mid-run, every command's --check), and whatever else lives there (the
#     Kubernetes manifests');
#   - checks that no container, network or volume of the tests' compose projects is left.
# The images stay (herd:latest, debian:bookworm-slim, the build stage's cache): a second run
# reuses them. The docker client used is Debian's /usr/bin/docker (HERD_DOCKER to change it).
set -eu
start=$(date +%s)
cd "$(dirname "$0")/.."
DOCKER=${HERD_DOCKER:-/usr/bin/docker}
IMAGE=${HERD_IMAGE:-herd:latest}
BASE=debian:bookworm-slim
log() { echo "make test-deploy: $*"; }

# --- packages --------------------------------------------------------------------------
HERD_DEPS_EXTRA="docker.io docker-compose debootstrap python3-yaml" sh mk/deps.sh

# --- the daemon ------------------------------------------------------------------------
dockerd_pid=
workdir=$(mktemp -d /var/tmp/herd-test-deploy.XXXXXX)
cleanup() {
    rc=$?
    rm -rf "$workdir"
    if [ -n "$dockerd_pid" ]; then
        log "stopping the dockerd it started (pid $dockerd_pid)"
        kill "$dockerd_pid" 2>/dev/null || true
        i=0
        while kill -0 "$dockerd_pid" 2>/dev/null && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
    fi
    log "total time $(( $(date +%s) - start )) s"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! "$DOCKER" info >/dev/null 2>&1; then
    log "starting dockerd (log: $workdir/dockerd.log)"
    dockerd > "$workdir/dockerd.log" 2>&1 &
    dockerd_pid=$!
    i=0
    until "$DOCKER" info >/dev/null 2>&1; do
        if ! kill -0 "$dockerd_pid" 2>/dev/null || [ $i -ge 60 ]; then
            tail -n 20 "$workdir/dockerd.log"
            log "dockerd did not start"
            exit 1
        fi
        sleep 1; i=$((i + 1))
    done
fi

# --- the base image --------------------------------------------------------------------
if ! "$DOCKER" image inspect "$BASE" >/dev/null 2>&1; then
    # the mirror apt uses here
    mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
    mirror=${mirror:-http://deb.debian.org/debian}
    log "no $BASE image: making it with debootstrap from $mirror"
    t=$(date +%s)
    root=$workdir/rootfs
    debootstrap --variant=minbase bookworm "$root" "$mirror" > "$workdir/debootstrap.log" 2>&1 ||
        { tail -n 20 "$workdir/debootstrap.log"; log "debootstrap failed"; exit 1; }
    # slim, as Debian's own image: no downloaded packages or lists, no docs (copyrights
    # kept), man pages or translations, now or in what apt installs later
    cat > "$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/overrides/*
CFG
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
           "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    tar -C "$root" -c . | "$DOCKER" import -c 'CMD ["bash"]' - "$BASE" >/dev/null
    rm -rf "$root"
    log "$BASE made in $(( $(date +%s) - t )) s"
fi

# --- the image -------------------------------------------------------------------------
t=$(date +%s)
log "building $IMAGE from deploy/Dockerfile (log: build/test-deploy/docker-build.log)"
mkdir -p build/test-deploy
if ! "$DOCKER" build -t "$IMAGE" -f deploy/Dockerfile . > build/test-deploy/docker-build.log 2>&1; then
    tail -n 40 build/test-deploy/docker-build.log
    log "docker build failed"
    exit 1
fi
size=$("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE")
base_size=$("$DOCKER" image inspect -f '{{.Size}}' "$BASE")
log "$IMAGE built in $(( $(date +%s) - t )) s; size $(( size / 1000000 )) MB ($BASE: $(( base_size / 1000000 )) MB)"

# --- the tests -------------------------------------------------------------------------
t=$(date +%s)
HERD_DOCKER=$DOCKER HERD_IMAGE=$IMAGE HERD_DEPLOY_REQUIRED=1 \
    /usr/bin/python3 -m pytest -q tests/deploy
log "tests/deploy passed in $(( $(date +%s) - t )) s"

# --- nothing left ----------------------------------------------------------------------
left=$("$DOCKER" ps -a --filter label=com.docker.compose.project --format '{{.Names}}' | grep '^herddeploy' || true)
left="$left$("$DOCKER" network ls --format '{{.Name}}' | grep '^herddeploy' || true)"
left="$left$("$DOCKER" volume ls --format '{{.Name}}' | grep '^herddeploy' || true)"
if [ -n "$left" ]; then
    echo "$left"
    log "the tests left these containers, networks or volumes"
    exit 1
fi
log "no container, network or volume left (the images stay: $IMAGE, $BASE)"
