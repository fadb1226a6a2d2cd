#!/usr/bin/env bash
# benches/digest.sh: the cost of --digest at start-up. Makes FILES files of
# SIZE_MIB MiB of random bytes (read once, so they are in the page cache),
# starts the release build with --digest and an empty digest cache, and
# prints the seconds until every file is hashed (polled from --metrics).
#
#   bash benches/digest.sh            # 4 files of 1024 MiB
#   FILES=8 SIZE_MIB=256 bash benches/digest.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FILES=${FILES:-4}
SIZE_MIB=${SIZE_MIB:-1024}
cargo build --release --quiet
work=$(mktemp -d /tmp/rangeserve-digest.XXXXXX)
pid=
cleanup() {
    [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/www"
for i in $(seq "$FILES"); do
    head -c $((SIZE_MIB << 20)) /dev/urandom >"$work/www/f$i.bin"
done
cat "$work"/www/* >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start=$(date +%s.%N)
target/release/rangeserve "$work/www" --port 0 --quiet --digest \
    --digest-cache "$work/digests.tsv" --metrics "127.0.0.1:$port" >/dev/null &
pid=$!
deadline=$((SECONDS + 600))
while ((SECONDS < deadline)); do
    done_=$(curl -s "http://127.0.0.1:$port/metrics" | awk '/^rangeserve_digest_jobs_done_total/ {print $2}')
    [[ ${done_:-0} -ge $FILES ]] && break
    sleep 0.05
done
end=$(date +%s.%N)
secs=$(echo "$end - $start" | bc)
echo "--digest: $FILES x $SIZE_MIB MiB hashed in $secs s ($(echo "scale=2; $FILES * $SIZE_MIB * 1.048576 / 1000 / $secs" | bc) GB/s)"
