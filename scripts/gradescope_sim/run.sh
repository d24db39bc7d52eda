#!/usr/bin/env bash
# Gradescope without Gradescope: build a fresh Debian/Ubuntu root filesystem with debootstrap,
# "build the image" from an autograder zip the way Gradescope does (setup.sh, once), then grade
# each submission in a fresh container of that image (run_autograder), as root, with Docker's
# default capabilities and the namespace rules of Docker's default seccomp profile, so user
# namespaces (and bubblewrap) are unavailable, exactly as inside Gradescope. See --help.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOTFS_DIR="${GS_ROOTFS_DIR:-/work/gs-rootfs}"
RELEASE=jammy
MEMORY=""
CPUS=""
TIMEOUT=600
RESULTS=""
DENY_LANDLOCK=""
REBUILD=""
BASE_ONLY=""
KEEP=""
RUN_OVERRIDE=""
EXTRA_ENV=()
SETUP_ENV=()
SETUP_BINDS=()
BASE_PACKAGES="python3 ca-certificates dos2unix"
HOST_CA="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}"

usage() {
  cat <<'EOF'
usage: scripts/gradescope_sim/run.sh [options] AUTOGRADER_ZIP [SUBMISSION_DIR ...]
       scripts/gradescope_sim/run.sh --base-only [--release R]

Simulates Gradescope's autograder end to end on this machine (must run as root):

 1. base image: a fresh root filesystem from debootstrap (minbase) at
    $GS_ROOTFS_DIR/<release>-base (default /work/gs-rootfs), with what Gradescope's base image
    guarantees: the distribution, python3, ca-certificates, dos2unix; apt lists removed.
    Built once and reused.
 2. autograder image: an overlay on the base at $GS_ROOTFS_DIR/images/<release>-<zip sha256>:
    the zip unpacked into /autograder/source, run_autograder copied to /autograder/ (dos2unix,
    chmod +x), then `apt-get update && bash /autograder/source/setup.sh && apt-get clean && rm -rf
    /var/lib/apt/lists/* /tmp/* /var/tmp/*` run as in Gradescope's Dockerfile (cwd /). Reused
    while the zip is unchanged; log in setup.log there.
 3. per submission: a fresh overlay on the image, the folder's files copied to
    /autograder/submission, /autograder/run_autograder run with cwd /autograder, its output
    in /autograder/results/stdout; results.json copied to RESULTS/<name>/ and printed.

Container conditions (scripts/gradescope_sim/dockerlike.c): uid 0; Docker's default capability
set (no CAP_SYS_ADMIN); seccomp refuses unshare, setns, mount, pivot_root, clone with CLONE_NEW*
(EPERM) and clone3 (ENOSYS), as Docker's default profile does for a container without
CAP_SYS_ADMIN, so no user namespace can be created and bubblewrap fails; own mount, pid, uts and
ipc namespaces; /dev/shm 64 MB; the host's network (Gradescope's containers have network).

options:
  --release R        bookworm (Python 3.11), trixie (3.13), jammy (Ubuntu 22.04, 3.10; default;
                     Gradescope's default image), noble (Ubuntu 24.04, 3.12)
  --results DIR      where results go (default: ./gs-sim-results/<release>)
  --memory SIZE      memory limit of each grading container, e.g. 768M (Gradescope's default), 3G;
                     default: none. The peak is measured either way (cgroup, see below).
  --cpus N           CPU quota of each grading container, e.g. 0.5 (Gradescope's default); default none
  --timeout SEC      kill run_autograder after SEC seconds (default 600, Gradescope's default)
  --deny-landlock    the three landlock syscalls fail with EPERM (Docker releases before 24)
  --env NAME=VALUE   environment for setup.sh and run_autograder (repeatable)
  --setup-env NAME=VALUE  environment for setup.sh only (repeatable), e.g. PIP_INDEX_URL=...
  --setup-bind SRC:DST[:ro]  bind-mount a host path while setup.sh runs (repeatable), e.g. a
                     wheel directory together with --setup-env PIP_FIND_LINKS=DST
  --no-host-ca       do not hand the host's CA bundle to the container (see below)
  --base-packages "P ..."  packages of the base image (default: python3 ca-certificates dos2unix)
  --rebuild-image    run setup.sh again even if the image for this zip exists
  --base-only        build (or check) the base root filesystem and stop
  --run-autograder FILE  grade with FILE as /autograder/run_autograder instead of the zip's (the
                     image is reused: a quick way to try a new run_autograder)
  --keep             keep each submission's container layer (default: removed after copying results)
  -h, --help         this text

This machine reaches PyPI through a TLS-intercepting proxy whose CA only the host trusts: the
host's bundle ($PIP_CERT, else /etc/ssl/certs/ca-certificates.crt) is bound read-only at
/etc/gs-sim-host-ca.crt and PIP_CERT, SSL_CERT_FILE and REQUESTS_CA_BUNDLE point at it (not
part of Gradescope; --no-host-ca turns it off).

Exit status: 0 when every submission produced a valid results.json, 1 otherwise, 2 on a setup
failure. Memory: the peak of the container's cgroup (anonymous + shmem, i.e. what cannot be
reclaimed; and the cgroup's max usage including page cache) and the largest single process's max
RSS (/usr/bin/time) are printed per submission.
EOF
}

die() { echo "gradescope_sim: $*" >&2; exit 2; }
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --release) RELEASE="$2"; shift 2 ;;
    --results) RESULTS="$2"; shift 2 ;;
    --memory) MEMORY="$2"; shift 2 ;;
    --cpus) CPUS="$2"; shift 2 ;;
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --deny-landlock) DENY_LANDLOCK=--deny-landlock; shift ;;
    --env) EXTRA_ENV+=(--env "$2"); shift 2 ;;
    --setup-env) SETUP_ENV+=(--env "$2"); shift 2 ;;
    --setup-bind) SETUP_BINDS+=(--bind "$2"); shift 2 ;;
    --base-packages) BASE_PACKAGES="$2"; shift 2 ;;
    --no-host-ca) HOST_CA=""; shift ;;
    --rebuild-image) REBUILD=1; shift ;;
    --base-only) BASE_ONLY=1; shift ;;
    --keep) KEEP=1; shift ;;
    --run-autograder) RUN_OVERRIDE="$(realpath "$2")"; shift 2 ;;
    --) shift; ARGS+=("$@"); break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, overlay mounts, namespaces)"
case "$RELEASE" in
  bookworm|trixie) MIRROR=http://deb.debian.org/debian; KEYRING=""
    SOURCES="deb http://deb.debian.org/debian $RELEASE main
deb http://deb.debian.org/debian $RELEASE-updates main
deb http://deb.debian.org/debian-security $RELEASE-security main" ;;
  jammy|noble) MIRROR=http://archive.ubuntu.com/ubuntu; KEYRING="$ROOTFS_DIR/keyrings/ubuntu-archive-keyring.gpg"
    SOURCES="deb http://archive.ubuntu.com/ubuntu $RELEASE main restricted universe multiverse
deb http://archive.ubuntu.com/ubuntu $RELEASE-updates main restricted universe multiverse
deb http://security.ubuntu.com/ubuntu $RELEASE-security main restricted universe multiverse" ;;
  *) die "unknown release $RELEASE (bookworm, trixie, jammy, noble)" ;;
esac
if [ -n "$HOST_CA" ] && [ -f "$HOST_CA" ]; then
  EXTRA_ENV=(--bind "$HOST_CA:/etc/gs-sim-host-ca.crt:ro" --env PIP_CERT=/etc/gs-sim-host-ca.crt
             --env SSL_CERT_FILE=/etc/gs-sim-host-ca.crt --env REQUESTS_CA_BUNDLE=/etc/gs-sim-host-ca.crt
             "${EXTRA_ENV[@]}")
fi
NICE=()
if pgrep -f bench/class_scale.py >/dev/null 2>&1; then NICE=(nice -n 19 ionice -c3); fi

# --- the container launcher -------------------------------------------------------------------
LAUNCHER="$ROOTFS_DIR/bin/dockerlike"
mkdir -p "$ROOTFS_DIR/bin"
if [ ! -x "$LAUNCHER" ] || [ "$HERE/dockerlike.c" -nt "$LAUNCHER" ]; then
  command -v gcc >/dev/null || die "gcc is needed to build dockerlike (apt-get install gcc libc6-dev)"
  gcc -O2 -Wall -static -o "$LAUNCHER" "$HERE/dockerlike.c" 2>&1 | grep -v -e 'statically linked' -e 'in function' >&2 || true
  [ -x "$LAUNCHER" ] || die "could not build $LAUNCHER"
fi

# the launcher takes ROOTFS after its options: reorder (options first, then ROOTFS, then -- CMD)
run_in() {  # run_in ROOT OPTS... -- CMD...
  local root="$1"; shift
  local opts=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  "$LAUNCHER" --bind /etc/resolv.conf:/etc/resolv.conf:ro $DENY_LANDLOCK "${EXTRA_ENV[@]}" "${opts[@]}" "$root" -- "$@"
}

# --- 1. base root filesystem ------------------------------------------------------------------
BASE="$ROOTFS_DIR/$RELEASE-base"
build_base() {
  command -v debootstrap >/dev/null || die "debootstrap missing: apt-get install -y debootstrap"
  local script="" keyring_opt=()
  if [ -n "$KEYRING" ]; then
    if [ ! -s "$KEYRING" ]; then
      # Ubuntu's archive key is not in Debian: take ubuntu-keyring from Ubuntu's archive and check
      # the key's fingerprint (Ubuntu Archive Automatic Signing Key (2018) <ftpmaster@ubuntu.com>)
      local tmp; tmp=$(mktemp -d)
      curl -fsS --max-time 60 -o "$tmp/k.deb" \
        http://archive.ubuntu.com/ubuntu/pool/main/u/ubuntu-keyring/ubuntu-keyring_2021.03.26_all.deb
      dpkg-deb -x "$tmp/k.deb" "$tmp/x"
      gpg --show-keys --with-colons "$tmp/x/usr/share/keyrings/ubuntu-archive-keyring.gpg" 2>/dev/null |
        grep -q '^fpr:*F6ECB3762474EDA9D21B7022871920D1991BC93C:' || die "unexpected Ubuntu keyring"
      mkdir -p "$(dirname "$KEYRING")"
      cp "$tmp/x/usr/share/keyrings/ubuntu-archive-keyring.gpg" "$KEYRING"
      rm -rf "$tmp"
    fi
    keyring_opt=(--keyring="$KEYRING")
    # Debian's debootstrap may not know newer Ubuntu releases: all of them use the gutsy script
    [ -e "/usr/share/debootstrap/scripts/$RELEASE" ] || script=/usr/share/debootstrap/scripts/gutsy
  fi
  if [ ! -e "$BASE.debootstrapped" ]; then
    log "debootstrap $RELEASE -> $BASE (minbase)"
    rm -rf "$BASE.tmp"
    "${NICE[@]}" debootstrap --variant=minbase "${keyring_opt[@]}" "$RELEASE" "$BASE.tmp" "$MIRROR" $script \
      > "$ROOTFS_DIR/$RELEASE-debootstrap.log" 2>&1 || die "debootstrap failed, see $ROOTFS_DIR/$RELEASE-debootstrap.log"
    touch "$BASE.debootstrapped"
  fi
  printf '%s\n' "$SOURCES" > "$BASE.tmp/etc/apt/sources.list"
  rm -f "$BASE.tmp/etc/apt/sources.list.d/"*.sources 2>/dev/null || true
  log "base packages: $BASE_PACKAGES"
  run_in "$BASE.tmp" --env DEBIAN_FRONTEND=noninteractive -- /bin/sh -c \
    "apt-get update -qq && apt-get install -y -qq --no-install-recommends $BASE_PACKAGES >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/* /tmp/* /var/tmp/*" \
    || die "installing the base packages failed"
  mkdir -p "$BASE.tmp/autograder"
  mv "$BASE.tmp" "$BASE"
  rm -f "$BASE.debootstrapped"
}
if [ ! -d "$BASE" ]; then
  t0=$SECONDS; build_base; log "base ready in $((SECONDS - t0)) s"
fi
if [ -n "$BASE_ONLY" ]; then
  run_in "$BASE" -- /bin/sh -c '. /etc/os-release; echo "$PRETTY_NAME, $(python3 --version)"'
  exit 0
fi

[ ${#ARGS[@]} -ge 1 ] || { usage >&2; exit 2; }
ZIP="$(realpath "${ARGS[0]}")"
[ -f "$ZIP" ] || die "no such zip: $ZIP"
SUBMISSIONS=("${ARGS[@]:1}")
RESULTS="${RESULTS:-$PWD/gs-sim-results/$RELEASE}"
mkdir -p "$RESULTS"
RESULTS="$(realpath "$RESULTS")"

# --- 2. autograder image (setup.sh) -----------------------------------------------------------
ZIP_SHA=$(sha256sum "$ZIP" | cut -c1-12)
IMAGE="$ROOTFS_DIR/images/$RELEASE-$ZIP_SHA"
if [ -n "$REBUILD" ] || [ ! -e "$IMAGE/setup-ok" ]; then
  rm -rf "$IMAGE"
  mkdir -p "$IMAGE/upper" "$IMAGE/work" "$IMAGE/merged"
  log "image $IMAGE: unpacking $(basename "$ZIP"), running setup.sh"
  t0=$SECONDS
  set +e
  # everything in a private mount namespace: the overlay disappears with it, whatever happens
  unshare --mount --propagation private -- /bin/bash -c '
    set -e
    LAUNCHER="$1"; BASE="$2"; IMAGE="$3"; ZIP="$4"; shift 4
    mount -t overlay overlay -o "lowerdir=$BASE,upperdir=$IMAGE/upper,workdir=$IMAGE/work" "$IMAGE/merged"
    M="$IMAGE/merged"
    mkdir -p "$M/autograder/source"
    python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$ZIP" "$M/autograder/source"
    [ -f "$M/autograder/source/setup.sh" ] || { echo "zip has no setup.sh at its root" >&2; exit 3; }
    [ -f "$M/autograder/source/run_autograder" ] || { echo "zip has no run_autograder at its root" >&2; exit 3; }
    cp "$M/autograder/source/run_autograder" "$M/autograder/run_autograder"
    "$LAUNCHER" "$@" "$M" -- /bin/sh -c "dos2unix -q /autograder/run_autograder /autograder/source/setup.sh && chmod +x /autograder/run_autograder && apt-get update && bash /autograder/source/setup.sh && apt-get clean && rm -rf /var/lib/apt/lists/* /tmp/* /var/tmp/*"
  ' _ "$LAUNCHER" "$BASE" "$IMAGE" "$ZIP" --bind /etc/resolv.conf:/etc/resolv.conf:ro $DENY_LANDLOCK \
      "${EXTRA_ENV[@]}" "${SETUP_ENV[@]}" "${SETUP_BINDS[@]}" --workdir / > "$IMAGE/setup.log" 2>&1
  rc=$?
  set -e
  log "setup.sh exit $rc after $((SECONDS - t0)) s (log: $IMAGE/setup.log)"
  if [ $rc -ne 0 ]; then
    tail -n 25 "$IMAGE/setup.log" >&2
    die "setup.sh failed: Gradescope would show the build as failed"
  fi
  echo "$((SECONDS - t0))" > "$IMAGE/setup-ok"
  du -sh "$IMAGE/upper" | awk '{print "image layer size: " $1}' >&2
else
  log "reusing image $IMAGE (setup.sh took $(cat "$IMAGE/setup-ok") s; --rebuild-image to redo)"
fi

# --- 3. one fresh container per submission ----------------------------------------------------
to_bytes() { numfmt --from=iec "${1%B}"; }
cgroup_new() {  # prints the cgroup directory (v1 memory+cpu, or v2), empty if none
  local name="gs-sim-$$-$1" dir
  if [ -d /sys/fs/cgroup/memory ] && mkdir "/sys/fs/cgroup/memory/$name" 2>/dev/null; then
    dir="/sys/fs/cgroup/memory/$name"
    [ -z "$MEMORY" ] || { echo "$(to_bytes "$MEMORY")" > "$dir/memory.limit_in_bytes"; echo 0 > "$dir/memory.swappiness" 2>/dev/null || true; }
    if [ -n "$CPUS" ] && mkdir "/sys/fs/cgroup/cpu/$name" 2>/dev/null; then
      echo 100000 > "/sys/fs/cgroup/cpu/$name/cpu.cfs_period_us"
      awk -v c="$CPUS" 'BEGIN{printf "%d\n", c * 100000}' > "/sys/fs/cgroup/cpu/$name/cpu.cfs_quota_us"
    fi
    echo "v1:$dir"
  elif [ -f /sys/fs/cgroup/cgroup.controllers ] && mkdir "/sys/fs/cgroup/$name" 2>/dev/null; then
    dir="/sys/fs/cgroup/$name"
    [ -z "$MEMORY" ] || { echo "$(to_bytes "$MEMORY")" > "$dir/memory.max"; echo 0 > "$dir/memory.swap.max" 2>/dev/null || true; }
    [ -z "$CPUS" ] || awk -v c="$CPUS" 'BEGIN{printf "%d 100000\n", c * 100000}' > "$dir/cpu.max"
    echo "v2:$dir"
  fi
}
cgroup_unreclaimable() {  # anon + shmem bytes now
  case "$1" in
    v1:*) awk '$1=="total_rss"||$1=="total_shmem"{s+=$2} END{print s+0}' "${1#v1:}/memory.stat" ;;
    v2:*) awk '$1=="anon"||$1=="shmem"{s+=$2} END{print s+0}' "${1#v2:}/memory.stat" ;;
  esac
}
cgroup_remove() {
  local d="${1#v?:}" name
  name=$(basename "$d")
  rmdir "$d" 2>/dev/null || true
  rmdir "/sys/fs/cgroup/cpu/$name" 2>/dev/null || true
}
mib() { awk -v b="$1" 'BEGIN{printf "%.0f MiB", b/1048576}'; }

failures=0
for sub in "${SUBMISSIONS[@]}"; do
  [ -d "$sub" ] || die "submission must be a folder (what the student uploaded): $sub"
  name=$(basename "$(realpath "$sub")")
  out="$RESULTS/$name"
  rm -rf "$out"; mkdir -p "$out"
  layer=$(mktemp -d "$ROOTFS_DIR/run.XXXXXX")
  mkdir -p "$layer/upper" "$layer/work" "$layer/merged"
  cg=$(cgroup_new "$name" || true)
  log "grading $name ($(find "$sub" -type f | wc -l) files) in a fresh container${MEMORY:+, memory $MEMORY}${CPUS:+, cpus $CPUS}"
  peak_file="$layer/peak"; echo 0 > "$peak_file"
  if [ -n "$cg" ]; then
    ( peak=0; while sleep 0.2; do v=$(cgroup_unreclaimable "$cg"); [ "$v" -gt "$peak" ] && { peak=$v; echo "$peak" > "$peak_file"; }; done ) &
    sampler=$!
  fi
  t0=$(date +%s.%N)
  set +e
  unshare --mount --propagation private -- /bin/bash -c '
    set -e
    LAUNCHER="$1"; BASE="$2"; IMAGE="$3"; LAYER="$4"; SUB="$5"; CG="$6"; TIMEOUT="$7"; RUN_OVERRIDE="$8"; shift 8
    mount -t overlay overlay -o "lowerdir=$IMAGE/upper:$BASE,upperdir=$LAYER/upper,workdir=$LAYER/work" "$LAYER/merged"
    M="$LAYER/merged"
    mkdir -p "$M/autograder/submission" "$M/autograder/results"
    cp -a "$SUB/." "$M/autograder/submission/"
    if [ -n "$RUN_OVERRIDE" ]; then
      cp "$RUN_OVERRIDE" "$M/autograder/run_autograder"; chmod 755 "$M/autograder/run_autograder"
    fi
    if [ -n "$CG" ]; then
      echo $$ > "${CG#v?:}/cgroup.procs"
      [ ! -d "/sys/fs/cgroup/cpu/$(basename "${CG#v?:}")" ] || echo $$ > "/sys/fs/cgroup/cpu/$(basename "${CG#v?:}")/cgroup.procs"
    fi
    set +e
    /usr/bin/time -f "%M" -o "$LAYER/maxrss" timeout --signal=KILL "$TIMEOUT" \
      "$LAUNCHER" "$@" --workdir /autograder "$M" -- /bin/sh -c "/autograder/run_autograder > /autograder/results/stdout 2>&1"
    rc=$?
    cp -a "$M/autograder/results/." "$LAYER/results-out/" 2>/dev/null || mkdir -p "$LAYER/results-out"
    exit $rc
  ' _ "$LAUNCHER" "$BASE" "$IMAGE" "$layer" "$(realpath "$sub")" "$cg" "$TIMEOUT" "$RUN_OVERRIDE" \
      --bind /etc/resolv.conf:/etc/resolv.conf:ro $DENY_LANDLOCK "${EXTRA_ENV[@]}"
  rc=$?
  set -e
  elapsed=$(python3 -c "import time; print(round(time.time() - $t0, 1))")
  [ -z "${sampler:-}" ] || { kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true; sampler=""; }
  cp -a "$layer/results-out/." "$out/" 2>/dev/null || true
  peak=$(cat "$peak_file")
  maxrss_kb=$(tail -n1 "$layer/maxrss" 2>/dev/null | grep -E '^[0-9]+$' || echo 0)
  usage_peak=0; oom=""
  case "$cg" in
    v1:*) usage_peak=$(cat "${cg#v1:}/memory.max_usage_in_bytes"); grep -q '^oom_kill [1-9]' "${cg#v1:}/memory.oom_control" 2>/dev/null && oom=" OOM-KILLED" ;;
    v2:*) usage_peak=$(cat "${cg#v2:}/memory.peak" 2>/dev/null || echo 0); grep -q '^oom_kill [1-9]' "${cg#v2:}/memory.events" 2>/dev/null && oom=" OOM-KILLED" ;;
  esac
  throttled=""
  if [ -n "$CPUS" ]; then
    case "$cg" in
      v1:*) throttled=$(awk '$1=="throttled_time"{printf "%.1f s", $2/1e9}' "/sys/fs/cgroup/cpu/$(basename "${cg#v1:}")/cpu.stat" 2>/dev/null) ;;
      v2:*) throttled=$(awk '$1=="throttled_usec"{printf "%.1f s", $2/1e6}' "${cg#v2:}/cpu.stat" 2>/dev/null) ;;
    esac
  fi
  [ -z "$cg" ] || cgroup_remove "$cg"
  {
    echo "submission: $sub"
    echo "run_autograder exit: $rc${oom} (124/137 = timeout or killed)"
    echo "wall time: ${elapsed} s${throttled:+ (CPU quota $CPUS, throttled $throttled)}"
    echo "peak memory (anon+shmem, sampled every 0.2 s): $(mib "$peak")"
    echo "peak memory (cgroup max usage incl. page cache): $(mib "$usage_peak")"
    echo "largest single process max RSS: $(mib $((maxrss_kb * 1024)))"
  } > "$out/sim-summary.txt"
  echo "=== $name"
  cat "$out/sim-summary.txt"
  if [ -f "$out/results.json" ] && python3 -m json.tool "$out/results.json" > /dev/null 2>&1; then
    python3 - "$out/results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
tests = r.get("tests", [])
score = r.get("score", sum(t.get("score", 0) or 0 for t in tests))
total = sum(t.get("max_score", 0) or 0 for t in tests)
print(f"results.json: score {score} / {total}, {len(tests)} tests")
for t in tests:
    print(f"  {t.get('score')}/{t.get('max_score')}  {t.get('name')}")
out = (r.get("output") or "").strip()
if out:
    print("  output: " + out[:600].replace("\n", "\n          "))
PY
    echo "(full file: $out/results.json; run_autograder output: $out/stdout)"
  else
    failures=$((failures + 1))
    echo "NO VALID results.json: Gradescope would report \"The autograder failed to execute correctly\"."
    echo "--- last lines of /autograder/results/stdout:"
    tail -n 30 "$out/stdout" 2>/dev/null || echo "(no stdout captured)"
  fi
  [ -n "$KEEP" ] && echo "(container layer kept: $layer)" || rm -rf "$layer"
done
[ $failures -eq 0 ]
