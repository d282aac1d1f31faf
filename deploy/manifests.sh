#!/usr/bin/env bash
# Fills in cloudrun.yaml's ${…} values from the environment and writes each of its documents
# to OUTDIR/NAME.yaml (NAME is the resource's metadata.name), one resource a file, as
# `gcloud run services replace` and `gcloud run jobs replace` want them. Stops when a value is
# unset, so that no placeholder reaches Cloud Run.
#
# Usage: IMAGE=… PROJECT_ID=… SQL_INSTANCES=… BUCKET=… TENANT=… deploy/manifests.sh OUTDIR
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:?usage: deploy/manifests.sh OUTDIR}"
source_file="${CLOUDRUN_YAML:-$repo/cloudrun.yaml}"
names=$(grep -o '\${[A-Z_][A-Z0-9_]*}' "$source_file" | sort -u | tr -d '${}')
script=()
for name in $names; do
  value="${!name:-}"
  [ -n "$value" ] || { echo "manifests: $name is not set (cloudrun.yaml uses \${$name})" >&2; exit 2; }
  case "$value" in *'|'*|*$'\n'*) echo "manifests: $name may not contain | or a newline" >&2; exit 2 ;; esac
  escaped=$(printf '%s' "$value" | sed 's/[&\\]/\\&/g')
  script+=(-e "s|\\\${$name}|$escaped|g")
done
mkdir -p "$out"
filled="$(sed "${script[@]}" "$source_file")"
# One file per document: a line `---` separates them; a document's name is its first
# `  name:` under `metadata:` (two spaces in, as cloudrun.yaml writes it).
printf '%s\n' "$filled" | awk -v out="$out" '
  function flush() {
    if (doc ~ /kind:/) {
      if (name == "") { print "manifests: a document without metadata.name" > "/dev/stderr"; exit 2 }
      file = out "/" name ".yaml"; printf "%s", doc > file; close(file); print file
    }
    doc = ""; name = ""; inmeta = 0
  }
  /^---[ \t]*$/ { flush(); next }
  {
    doc = doc $0 "\n"
    if ($0 ~ /^metadata:/) inmeta = 1
    else if ($0 ~ /^[^ #]/) inmeta = 0
    else if (inmeta && name == "" && $0 ~ /^  name: /) { name = $0; sub(/^  name: */, "", name) }
  }
  END { flush() }'
