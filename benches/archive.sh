#!/usr/bin/env bash
# The cost of folder archives (`?archive=tar`):
#   1. time to first byte and server CPU for a folder of 10,000 small files
#      (100 folders of 100 files of 1,000 bytes): the first request walks
#      the tree, the next ones reuse the walk, and one after a change walks
#      again;
#   2. throughput of a folder of four 256 MiB files against one 1 GiB file,
#      over HTTP/1.1 with sendfile, one connection, from the page cache.
#
# Usage: benches/archive.sh [--rounds N]   (needs curl and python3; builds
# the release binary). The server runs on CPU 0, curl on CPU 1. Prints one
# line per measure: median and range over the rounds.
set -euo pipefail

rounds=5
while [[ $# -gt 0 ]]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        *) echo "usage: $0 [--rounds N]" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="$PWD/target/release/rangeserve"
work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

python3 - "$work" <<'EOF'
import os, sys
root = sys.argv[1]
for i in range(10000):
    d = f"{root}/many/d{i // 100:03d}"
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/f{i:05d}.txt", "wb") as f:
        f.write(os.urandom(1000))
os.makedirs(f"{root}/large")
chunk = os.urandom(1 << 20)
with open(f"{root}/single.bin", "wb") as single:
    for i in range(4):
        with open(f"{root}/large/part{i}.bin", "wb") as f:
            for _ in range(256):
                f.write(chunk)
                single.write(chunk)
EOF

taskset -c 0 "$bin" "$work" --port 0 --quiet >"$work/banner" 2>&1 &
server_pid=$!
for _ in $(seq 50); do grep -q "http://" "$work/banner" 2>/dev/null && break; sleep 0.1; done
base="$(grep -o 'http://[^ ]*' "$work/banner" | head -1)"
base="${base%/}"

cpu_ms() { # the server's user + system CPU so far, in ms
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) * 1000 / hz}' "/proc/$server_pid/stat"
}
ttfb() { # seconds to the first byte of $1 (one byte asked)
    taskset -c 1 curl -s -o /dev/null -r 0-0 -w '%{time_starttransfer}' "$1"
}
median() { sort -g | awk '{v[NR]=$1} END {printf "%s (%s-%s)", v[int((NR+1)/2)], v[1], v[NR]}'; }

walk_ttfb=() walk_cpu=() hit_ttfb=() hit_cpu=()
for _ in $(seq "$rounds"); do
    touch "$work/many/d000/f00000.txt"       # a change: the next request walks again
    c0=$(cpu_ms); t=$(ttfb "$base/many/?archive=tar"); c1=$(cpu_ms)
    walk_ttfb+=("$(awk -v t="$t" 'BEGIN{print t*1000}')"); walk_cpu+=("$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')")
    c0=$(cpu_ms); t=$(ttfb "$base/many/?archive=tar"); c1=$(cpu_ms)
    hit_ttfb+=("$(awk -v t="$t" 'BEGIN{print t*1000}')"); hit_cpu+=("$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')")
done
echo "10,000-file folder, first byte after a change (walk): $(printf '%s\n' "${walk_ttfb[@]}" | median) ms, server CPU $(printf '%s\n' "${walk_cpu[@]}" | median) ms"
echo "10,000-file folder, first byte, walk reused:          $(printf '%s\n' "${hit_ttfb[@]}" | median) ms, server CPU $(printf '%s\n' "${hit_cpu[@]}" | median) ms"

throughput() { # GB/s for a whole download of $1
    taskset -c 1 curl -s -o /dev/null -w '%{size_download} %{time_total}\n' "$1" |
        awk '{printf "%.2f\n", $1 / $2 / 1e9}'
}
many=() folder=() single=()
for _ in $(seq "$rounds"); do
    many+=("$(throughput "$base/many/?archive=tar")")
    folder+=("$(throughput "$base/large/?archive=tar")")
    single+=("$(throughput "$base/single.bin")")
done
echo "10,000-file folder, whole archive (25.8 MB):          $(printf '%s\n' "${many[@]}" | median) GB/s"
echo "four 256 MiB files as one archive:                    $(printf '%s\n' "${folder[@]}" | median) GB/s"
echo "one 1 GiB file:                                       $(printf '%s\n' "${single[@]}" | median) GB/s"
