#!/usr/bin/env bash
# Browser check of the folder listing: headless Chromium (Debian's chromium
# package) driven by playwright-core loads a listing, checks escaping, sizes
# and sorting as a person sees them, clicks into a subfolder, and saves a
# screenshot (tests/browser/listing.png, shown in the README).
#
#   bash tests/browser/run.sh            # needs chromium, node and npm
#
# Loopback only; the server it starts is stopped by its PID.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$(dirname "$here")")
shot=${1:-$here/listing.png}

command -v chromium >/dev/null || { echo "chromium is not installed (apt-get install chromium)"; exit 2; }
command -v npm >/dev/null || { echo "npm is not installed"; exit 2; }

work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

(cd "$work" && npm install --silent --no-audit --no-fund playwright-core@1 >/dev/null)
cp "$here/listing.mjs" "$work/"

site="$work/site"
mkdir -p "$site/photos 2026" "$site/releases"
head -c 3145728 /dev/zero > "$site/big-dataset.bin"
printf 'hello\n' > "$site/README.txt"
printf 'x' > "$site/<b>&\"'.txt"
printf 'jpeg' > "$site/photos 2026/été.jpg"
head -c 734003 /dev/zero > "$site/releases/v1.2.iso"
touch -d '2026-11-20 09:12' "$site/releases/v1.2.iso" "$site/README.txt"

cargo build --quiet --manifest-path "$repo/Cargo.toml"
"$repo/target/debug/rangeserve" "$site" --port 0 --quiet > "$work/banner" &
pid=$!
for _ in $(seq 50); do [ -s "$work/banner" ] && break; sleep 0.1; done
url=$(head -n 1 "$work/banner" | sed 's/.* at //; s:/$::')

(cd "$work" && timeout 120 node listing.mjs "$url" "$shot")
