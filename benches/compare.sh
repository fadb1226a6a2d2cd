#!/usr/bin/env bash
# benches/compare.sh: rangeserve side by side with nginx and lighttpd.
#
#   bash benches/compare.sh --quick            # ~3-4 minutes (after the first build)
#   bash benches/compare.sh                    # full: 3 rounds of 10 s runs
#   bash benches/compare.sh --only S2,S3 --rounds 5
#
# The Markdown report goes to stdout, progress to stderr, so
# `bash benches/compare.sh > report.md` keeps just the report.
#
# What it does, in order:
#   1. installs nginx, lighttpd, wrk and h2load when missing (apt-get, as root);
#   2. builds rangeserve with `cargo build --release`;
#   3. creates the fixtures once in $RANGESERVE_BENCH_CACHE (default
#      /tmp/rangeserve-bench) and hard-links them into a per-run temp folder;
#   4. for each scenario, for each round, starts each server in turn on
#      127.0.0.1 pinned to CPU 0 (the load generator runs on CPU 1), measures,
#      and stops it by PID: rounds interleave the servers so drift cancels
#      (S5 starts them all and interleaves request by request);
#   5. prints the machine line and one table row per scenario, metric and server.
#
# See benches/README.md for what each scenario measures.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
HELPER="$BENCH_DIR/helper.py"
CACHE=${RANGESERVE_BENCH_CACHE:-/tmp/rangeserve-bench}
ALL_SCENARIOS="S1 S2 S3 S4 S5 S6 S7"
SERVER_CPU=0
CLIENT_CPU=1

usage() {
    cat <<'EOF'
Usage: bash benches/compare.sh [--quick] [--only S1,S2,...] [--rounds N]

Compares rangeserve with nginx and lighttpd on 127.0.0.1 (server on CPU 0,
load generator on CPU 1) and prints a Markdown table.

  --quick        3 s runs, 2 rounds, 6 s slow-reader test (about 3.5 minutes)
  --only LIST    run only these scenarios, e.g. --only S2,S3 (S1..S7)
  --rounds N     rounds per scenario (default: 3, or 2 with --quick)

Environment: RANGESERVE_BENCH_ARGS adds flags to rangeserve's command line,
e.g. RANGESERVE_BENCH_ARGS='--metrics 127.0.0.1:0' to measure the counters.
  -h, --help     this text

Scenarios: S1 1 GiB full GET (GB/s, CPU s/GiB)   S2 4 KiB GET (req/s, p99)
           S3 small Range (req/s)   S4 random 64 KiB ranges (req/s)
           S5 TTFB at offset 6e9 of a sparse 6 GiB file   S6 RSS: idle
           keep-alive and slow readers   S7 HTTP/2 h2c 4 KiB (req/s)
EOF
}

# --- arguments -------------------------------------------------------------------

QUICK=0
ROUNDS=""
SCENARIOS=$ALL_SCENARIOS
while (($#)); do
    case $1 in
    --quick) QUICK=1 ;;
    --rounds)
        [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: --rounds needs a positive number" >&2; exit 2; }
        ROUNDS=$2
        shift
        ;;
    --rounds=*)
        ROUNDS=${1#--rounds=}
        [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: --rounds needs a positive number" >&2; exit 2; }
        ;;
    --only | --only=*)
        if [[ $1 == --only ]]; then
            list=${2:-}
            shift
        else
            list=${1#--only=}
        fi
        SCENARIOS=""
        for s in ${list//,/ }; do
            s=${s^^}
            [[ " $ALL_SCENARIOS " == *" $s "* ]] || { echo "compare.sh: unknown scenario '$s' (S1..S7)" >&2; exit 2; }
            SCENARIOS+="$s "
        done
        [[ -n $SCENARIOS ]] || { echo "compare.sh: --only needs a list such as S2,S3" >&2; exit 2; }
        ;;
    -h | --help) usage; exit 0 ;;
    *) echo "compare.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

if ((QUICK)); then
    MODE=quick DUR=3 TTFB_N=50 SLOW_SECS=6
    ROUNDS=${ROUNDS:-2}
else
    MODE=full DUR=10 TTFB_N=100 SLOW_SECS=20
    ROUNDS=${ROUNDS:-3}
fi
IDLE_CONNS=2000
SLOW_CONNS=200

log() { printf '%s\n' "$*" >&2; }
die() { log "compare.sh: $*"; exit 1; }

START_TIME=$SECONDS

# --- processes: every one started here is recorded and stopped by PID -----------

STARTED_PIDS=()
WORK=""

# Stops one process we started: SIGTERM, up to 5 s to exit, then SIGKILL.
stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        # A child that has exited stays a zombie until waited for; count it as gone.
        [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]] && break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) != Z ]] &&
        kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM
    for pid in "${STARTED_PIDS[@]}"; do
        stop_pid "$pid"
    done
    # Logs (server output, configs, wrk and h2load output) are kept when
    # something went wrong, so the warnings can be followed up.
    if [[ -n $WORK && -d $WORK ]]; then
        if ((rc == 0)) && [[ ! -s $WORK/warnings.txt ]]; then
            rm -rf "$WORK"
        else
            log "compare.sh: logs kept in $WORK"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- tools -----------------------------------------------------------------------

missing=()
for tool in nginx lighttpd wrk h2load curl taskset python3; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    pkgs=()
    for tool in "${missing[@]}"; do
        case $tool in
        h2load) pkgs+=(nghttp2-client) ;;
        taskset) pkgs+=(util-linux) ;;
        *) pkgs+=("$tool") ;;
        esac
    done
    ((EUID == 0)) || die "missing ${missing[*]}; run as root or: sudo apt-get install -y ${pkgs[*]}"
    log "== installing ${pkgs[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >&2
fi
(($(nproc) >= 2)) || die "needs at least 2 CPUs (server on CPU $SERVER_CPU, load generator on CPU $CLIENT_CPU)"

log "== cargo build --release"
build_start=$SECONDS
(cd "$ROOT" && cargo build --release --quiet) >&2 || die "cargo build --release failed"
RS_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/rangeserve"
[[ -x $RS_BIN ]] || die "no binary at $RS_BIN after the build"
log "   built in $((SECONDS - build_start)) s"

# Every server and client gets the same open-file limit; 2,000 idle
# connections need a few thousand descriptors on each side.
ulimit -Hn 65536 2>/dev/null || true
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
[[ $NOFILE == unlimited ]] && NOFILE=1048576
((NOFILE >= 4200)) || log "warning: open-file limit is $NOFILE; S6 needs about 4200"

CLK_TCK=$(getconf CLK_TCK)
WORK=$(mktemp -d /tmp/rangeserve-bench-run.XXXXXX)
RESULTS="$WORK/results.tsv"
WARNINGS="$WORK/warnings.txt"
: >"$RESULTS"
: >"$WARNINGS"
mkdir -p "$WORK/www" "$WORK/logs" "$WORK/lua"

warn() {
    log "   warning: $*"
    printf -- '- %s\n' "$*" >>"$WARNINGS"
}

# record SCENARIO METRIC SERVER ROUND VALUE
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$RESULTS"; }

# --- fixtures --------------------------------------------------------------------

SIZE_4K=4096
SIZE_1M=1048576
SIZE_1G=1073741824
SPARSE_SIZE=6442450944 # truncate -s 6G
FAR_OFFSET=6000000000
MARKER=$(printf 'rangeserve-far-offset:%078d' "$FAR_OFFSET") # 100 bytes

# random_fixture SIZE: a cached file of SIZE random bytes, written once.
random_fixture() {
    local size=$1 path="$CACHE/random-$1.bin"
    if [[ ! -f $path || $(stat -c %s "$path") != "$size" ]]; then
        log "   writing $path"
        head -c "$size" /dev/urandom >"$path.tmp"
        mv "$path.tmp" "$path"
    fi
    printf '%s' "$path"
}

sparse_fixture() {
    local path="$CACHE/sparse-$SPARSE_SIZE-marker-$FAR_OFFSET.bin"
    if [[ ! -f $path || $(stat -c %s "$path") != "$SPARSE_SIZE" ||
        $(dd if="$path" bs=1 skip="$FAR_OFFSET" count=100 status=none) != "$MARKER" ]]; then
        log "   writing $path"
        rm -f "$path.tmp"
        truncate -s 6G "$path.tmp"
        printf '%s' "$MARKER" | dd of="$path.tmp" bs=1 seek="$FAR_OFFSET" conv=notrunc status=none
        mv "$path.tmp" "$path"
    fi
    printf '%s' "$path"
}

log "== fixtures in $CACHE"
mkdir -p "$CACHE"
link_fixture() { ln -f "$1" "$WORK/www/$2" 2>/dev/null || cp --sparse=always "$1" "$WORK/www/$2"; }
link_fixture "$(random_fixture $SIZE_4K)" 4k.bin
link_fixture "$(random_fixture $SIZE_1M)" 1m.bin
link_fixture "$(random_fixture $SIZE_1G)" 1g.bin
link_fixture "$(sparse_fixture)" sparse-6g.bin
WWW="$WORK/www"

warm_cache() {
    cat "$WWW/4k.bin" "$WWW/1m.bin" "$WWW/1g.bin" >/dev/null
    dd if="$WWW/sparse-6g.bin" bs=4096 skip=$((FAR_OFFSET / 4096)) count=2 status=none >/dev/null
}

# wrk scripts: the shared report in front of each scenario's script.
for script in plain small_range random_range; do
    cat "$BENCH_DIR/wrk/report.lua" "$BENCH_DIR/wrk/$script.lua" >"$WORK/lua/$script.lua"
done

# --- the servers -----------------------------------------------------------------

NGINX_VERSION=$(nginx -v 2>&1 | sed -n 's#.*nginx/\([0-9.]*\).*#\1#p')
LIGHTTPD_VERSION=$(lighttpd -v 2>&1 | sed -n 's#.*lighttpd/\([0-9.]*\).*#\1#p')

version_ge() { [[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -1) == "$2" ]]; }

freeport() { python3 "$HELPER" freeport; }

# nginx_conf PORT H2PORT DIR: a minimal, self-contained configuration.
nginx_conf() {
    local port=$1 h2port=$2 dir=$3 h2listen
    # nginx < 1.25.1 turns HTTP/2 on per listen socket; later ones with `http2 on`.
    if version_ge "$NGINX_VERSION" 1.25.1; then
        h2listen="listen 127.0.0.1:$h2port; http2 on;"
    else
        h2listen="listen 127.0.0.1:$h2port http2;"
    fi
    mkdir -p "$dir/tmp"
    cat <<EOF
worker_processes 1;
daemon off;
master_process on;
$( ((EUID == 0)) && echo 'user root;')
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile $NOFILE;
events { worker_connections 8192; }
http {
    access_log off;
    sendfile on;
    keepalive_timeout 120s;
    keepalive_requests 1000000;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    types { application/octet-stream bin; }
    default_type application/octet-stream;
    server { listen 127.0.0.1:$port; root $WWW; }
    # HTTP/2 over cleartext with prior knowledge (h2c) for S7.
    server { $h2listen root $WWW; }
}
EOF
}

# lighttpd_conf PORT DIR: one process (max-worker 0), no access log.
lighttpd_conf() {
    local port=$1 dir=$2 fds conns
    fds=$((NOFILE < 16384 ? NOFILE : 16384))
    conns=$((fds / 3 < 4096 ? fds / 3 : 4096))
    cat <<EOF
server.document-root = "$WWW"
server.bind = "127.0.0.1"
server.port = $port
server.max-worker = 0
server.max-fds = $fds
server.max-connections = $conns
server.errorlog = "$dir/error.log"
server.network-backend = "sendfile"
server.max-keep-alive-requests = 1000000
server.max-keep-alive-idle = 120
mimetype.assign = (".bin" => "application/octet-stream")
server.feature-flags += ("server.h2proto" => "enable", "server.h2c" => "enable")
EOF
}

SRV_PID=""
SRV_PORT=""
SRV_H2PORT=""
SRV_NAME=""
RUN_SEQ=0

# wait_banner FILE PID: the port from a "Serving … at http://127.0.0.1:PORT/" line.
wait_banner() {
    local file=$1 pid=$2 i port
    for ((i = 0; i < 200; i++)); do
        port=$(sed -n 's#^Serving .* at http://127\.0\.0\.1:\([0-9]*\)/$#\1#p' "$file" 2>/dev/null | head -1)
        [[ -n $port ]] && { printf '%s' "$port"; return 0; }
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}

# wait_http PID PORT: until GET /4k.bin answers 200 (at most 10 s).
wait_http() {
    local pid=$1 port=$2 i
    for ((i = 0; i < 100; i++)); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/4k.bin") == 200 ]] && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# start_server NAME: starts it pinned to CPU 0; sets SRV_PID, SRV_PORT, SRV_H2PORT.
start_server() {
    local name=$1 dir
    RUN_SEQ=$((RUN_SEQ + 1))
    dir="$WORK/logs/$RUN_SEQ-$name"
    mkdir -p "$dir"
    SRV_NAME=$name SRV_PID="" SRV_PORT="" SRV_H2PORT=""
    case $name in
    rangeserve)
        # shellcheck disable=SC2086 # RANGESERVE_BENCH_ARGS is a list of flags
        RUST_LOG=warn taskset -c $SERVER_CPU "$RS_BIN" "$WWW" --port 0 --bind 127.0.0.1 \
            ${RANGESERVE_BENCH_ARGS:-} >"$dir/stdout" 2>"$dir/stderr" &
        SRV_PID=$!
        STARTED_PIDS+=("$SRV_PID")
        SRV_PORT=$(wait_banner "$dir/stdout" "$SRV_PID") || SRV_PORT=""
        SRV_H2PORT=$SRV_PORT
        ;;
    nginx)
        SRV_PORT=$(freeport)
        SRV_H2PORT=$(freeport)
        nginx_conf "$SRV_PORT" "$SRV_H2PORT" "$dir" >"$dir/nginx.conf"
        taskset -c $SERVER_CPU nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" \
            >"$dir/stdout" 2>"$dir/stderr" &
        SRV_PID=$!
        STARTED_PIDS+=("$SRV_PID")
        ;;
    lighttpd)
        SRV_PORT=$(freeport)
        SRV_H2PORT=$SRV_PORT
        lighttpd_conf "$SRV_PORT" "$dir" >"$dir/lighttpd.conf"
        taskset -c $SERVER_CPU lighttpd -D -f "$dir/lighttpd.conf" >"$dir/stdout" 2>"$dir/stderr" &
        SRV_PID=$!
        STARTED_PIDS+=("$SRV_PID")
        ;;
    sendfile-ref)
        taskset -c $SERVER_CPU python3 "$HELPER" sendfile-ref --file "$WWW/1g.bin" --port 0 \
            >"$dir/stdout" 2>"$dir/stderr" &
        SRV_PID=$!
        STARTED_PIDS+=("$SRV_PID")
        SRV_PORT=$(wait_banner "$dir/stdout" "$SRV_PID") || SRV_PORT=""
        # It answers every GET with 1 GiB, so no /4k.bin probe.
        [[ -n $SRV_PORT ]] && return 0
        ;;
    esac
    if [[ -n $SRV_PORT ]] && wait_http "$SRV_PID" "$SRV_PORT"; then
        return 0
    fi
    warn "$name did not start; see $dir"
    stop_server
    return 1
}

stop_server() {
    local workers=() pid
    [[ -n $SRV_PID ]] || return 0
    # nginx's workers are children of the master, which stops them; any left
    # behind are stopped by their own PID.
    mapfile -t workers < <(pgrep -P "$SRV_PID" || true)
    stop_pid "$SRV_PID"
    for pid in "${workers[@]}"; do
        [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$SRV_NAME"* ]] && kill -KILL "$pid" 2>/dev/null
    done
    SRV_PID=""
}

# --- measuring -------------------------------------------------------------------

declare -A W # the fields of wrk's BENCH line

# run_wrk LOGNAME CONNS SCRIPT URL [-- SCRIPT ARGS]: fills W; returns 1 on failure.
run_wrk() {
    local name=$1 conns=$2 script=$3 url=$4 out kv
    shift 4
    out="$WORK/logs/$RUN_SEQ-$name.wrk"
    W=()
    timeout -k 5 $((DUR + 90)) taskset -c $CLIENT_CPU \
        wrk -t1 -c"$conns" -d"${DUR}s" --latency --timeout 60s -s "$WORK/lua/$script.lua" "$url" "$@" \
        >"$out" 2>&1 || true
    local line
    line=$(grep '^BENCH ' "$out" | tail -1) || true
    [[ -n $line ]] || { warn "wrk gave no result for $name; see $out"; return 1; }
    for kv in ${line#BENCH }; do
        W[${kv%%=*}]=${kv#*=}
    done
    local errors=$((W[connect] + W[read] + W[write] + W[status] + W[timeout]))
    ((errors == 0)) || warn "$name: wrk errors connect=${W[connect]} read=${W[read]} write=${W[write]} status=${W[status]} timeout=${W[timeout]}"
    ((W[requests] > 0 || W[bytes] > 0)) || { warn "$name: no requests completed"; return 1; }
}

calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
short() { awk "BEGIN { x = $1; if (x >= 1000) printf \"%.0f\", x; else printf \"%.4g\", x }"; } # for progress lines

cpu_ticks() { python3 "$HELPER" cpu-ticks "$SRV_PID"; }

# S1: full GET of the 1 GiB file on 1 and 4 connections: GB/s (10^9 bytes/s)
# and server CPU seconds (user+system, all its processes) per GiB sent.
scenario_S1() {
    local srv=$1 round=$2 conns t0 t1 gbps cpu
    start_server "$srv" || return 0
    for conns in 1 4; do
        t0=$(cpu_ticks)
        if run_wrk "S1-$srv-c$conns" "$conns" plain "http://127.0.0.1:$SRV_PORT/1g.bin"; then
            t1=$(cpu_ticks)
            gbps=$(calc "${W[bytes]} / ${W[duration_us]} / 1000")
            cpu=$(calc "($t1 - $t0) / $CLK_TCK / (${W[bytes]} / 1073741824)")
            record S1 "gbps_c$conns" "$srv" "$round" "$gbps"
            record S1 "cpu_c$conns" "$srv" "$round" "$cpu"
            log "   $srv c$conns: $(short "$gbps") GB/s, $(short "$cpu") CPU s/GiB"
        fi
    done
    stop_server
}

# cpu_us T0 T1 REQUESTS: server CPU microseconds per request between two
# cpu_ticks readings (user+system, all the server's processes).
cpu_us() { calc "($2 - $1) * 1e6 / $CLK_TCK / ($3 > 0 ? $3 : 1)"; }

# S2: 4 KiB GET, keep-alive, 64 connections: req/s, p99 latency and server
# CPU per request.
scenario_S2() {
    local srv=$1 round=$2 rps p99 t0 t1 us
    start_server "$srv" || return 0
    t0=$(cpu_ticks)
    if run_wrk "S2-$srv" 64 plain "http://127.0.0.1:$SRV_PORT/4k.bin"; then
        t1=$(cpu_ticks)
        rps=$(calc "${W[requests]} / (${W[duration_us]} / 1e6)")
        p99=$(calc "${W[p99_us]} / 1000")
        us=$(cpu_us "$t0" "$t1" "${W[requests]}")
        record S2 rps "$srv" "$round" "$rps"
        record S2 p99_ms "$srv" "$round" "$p99"
        record S2 cpu_us "$srv" "$round" "$us"
        log "   $srv: $(short "$rps") req/s, p99 $(short "$p99") ms, $(short "$us") µs CPU/req"
    fi
    stop_server
}

# S3: Range: bytes=1000-1999 of the 1 MiB file, 64 connections; non-206 are errors.
scenario_S3() {
    local srv=$1 round=$2 rps t0 t1
    start_server "$srv" || return 0
    t0=$(cpu_ticks)
    if run_wrk "S3-$srv" 64 small_range "http://127.0.0.1:$SRV_PORT/1m.bin"; then
        t1=$(cpu_ticks)
        rps=$(calc "${W[requests]} / (${W[duration_us]} / 1e6)")
        record S3 rps "$srv" "$round" "$rps"
        record S3 cpu_us "$srv" "$round" "$(cpu_us "$t0" "$t1" "${W[requests]}")"
        record S3 non206 "$srv" "$round" "${W[bad]}"
        ((W[bad] == 0)) || warn "S3 $srv round $round: ${W[bad]} of ${W[requests]} responses were not 206"
        log "   $srv: $(short "$rps") req/s, ${W[bad]} non-206"
    fi
    stop_server
}

# S4: random 64 KiB ranges across the 1 GiB file, 64 connections.
scenario_S4() {
    local srv=$1 round=$2 rps per_resp
    start_server "$srv" || return 0
    # The same ranges in the same order for every server and round.
    if run_wrk "S4-$srv" 64 random_range "http://127.0.0.1:$SRV_PORT/1g.bin" -- "$SIZE_1G" 42; then
        rps=$(calc "${W[requests]} / (${W[duration_us]} / 1e6)")
        record S4 rps "$srv" "$round" "$rps"
        # A 206 is 65,536 bytes plus a head of a few hundred; a 200 would be 1 GiB.
        per_resp=$(calc "${W[bytes]} / (${W[requests]} > 0 ? ${W[requests]} : 1)")
        awk "BEGIN { exit !($per_resp > 65536 + 2048 || $per_resp < 65536) }" &&
            warn "S4 $srv round $round: $per_resp bytes per response, expected about 65,536 + head"
        log "   $srv: $(short "$rps") req/s ($(short "$per_resp") bytes/response)"
    fi
    stop_server
}

# S5: time to first byte of a 100-byte range at offset 6,000,000,000 of the
# sparse 6 GiB file; one new connection per request; median of TTFB_N per
# server. Unlike the other scenarios, every server runs at once (idle ones
# take no CPU) and the requests go to them in turn, one each: a cold request
# takes 0.4 to 1.3 ms on a VM whose state drifts within seconds, so servers
# measured one after another in separate batches of TTFB_N differed by more
# than the servers do.
scenario_S5() {
    local round=$1 url range code i ms srv
    shift
    local -A port pid
    local up=()
    range="bytes=$FAR_OFFSET-$((FAR_OFFSET + 99))"
    for srv in "$@"; do
        start_server "$srv" || continue
        url="http://127.0.0.1:$SRV_PORT/sparse-6g.bin"
        code=$(curl -s -o "$WORK/far.out" -w '%{http_code}' --max-time 10 -H "Range: $range" "$url") || true
        if [[ $code != 206 || $(cat "$WORK/far.out") != "$MARKER" ]]; then
            warn "S5 $srv: got status $code or wrong bytes for Range: $range"
            stop_server
            continue
        fi
        port[$srv]=$SRV_PORT
        pid[$srv]=$SRV_PID
        up+=("$srv")
        : >"$WORK/ttfb-$srv.txt"
    done
    local n=${#up[@]} k
    for ((i = 0; i < TTFB_N && n > 0; i++)); do
        # Each request in turn, the first server rotating: none always
        # follows the same one.
        for ((k = 0; k < n; k++)); do
            srv=${up[$(((i + k) % n))]}
            taskset -c $CLIENT_CPU curl -s -o /dev/null --max-time 10 -H "Range: $range" \
                -w '%{time_starttransfer}\n' "http://127.0.0.1:${port[$srv]}/sparse-6g.bin" \
                >>"$WORK/ttfb-$srv.txt" || true
        done
    done
    for srv in "${up[@]}"; do
        ms=$(python3 "$HELPER" median <"$WORK/ttfb-$srv.txt")
        ms=$(calc "$ms * 1000")
        record S5 ttfb_ms "$srv" "$round" "$ms"
        log "   $srv: median TTFB $(short "$ms") ms over $(wc -l <"$WORK/ttfb-$srv.txt") requests"
        SRV_NAME=$srv SRV_PID=${pid[$srv]}
        stop_server
    done
}

# S6: (a) RSS per idle keep-alive connection, each having completed one GET of
# the 4 KiB file; (b) peak RSS with slow readers of the 1 GiB file. Each part
# on a freshly started server.
scenario_S6() {
    local srv=$1 round=$2 line kv per peak
    declare -A R
    if start_server "$srv"; then
        line=$(timeout -k 5 120 taskset -c $CLIENT_CPU python3 "$HELPER" idle --pid "$SRV_PID" \
            --port "$SRV_PORT" --path /4k.bin --conns $IDLE_CONNS | grep '^BENCH ' | tail -1) || true
        R=()
        for kv in ${line#BENCH }; do R[${kv%%=*}]=${kv#*=}; done
        if [[ -n ${R[ok]:-} && ${R[ok]} -gt 0 ]]; then
            per=${R[per_conn_kib]}
            ((R[ok] == IDLE_CONNS)) || warn "S6 $srv round $round: only ${R[ok]} of $IDLE_CONNS idle connections completed (failed ${R[failed]})"
            record S6 idle_kib "$srv" "$round" "$per"
            log "   $srv: idle ${R[ok]} conns, RSS ${R[before_kib]} -> ${R[with_kib]} KiB, $per KiB/conn"
        else
            warn "S6 $srv round $round: idle-connection test failed: ${line:-no output}"
        fi
        stop_server
    fi
    if start_server "$srv"; then
        line=$(timeout -k 5 $((SLOW_SECS + 120)) taskset -c $CLIENT_CPU python3 "$HELPER" slow --pid "$SRV_PID" \
            --port "$SRV_PORT" --path /1g.bin --conns $SLOW_CONNS --seconds "$SLOW_SECS" | grep '^BENCH ' | tail -1) || true
        R=()
        for kv in ${line#BENCH }; do R[${kv%%=*}]=${kv#*=}; done
        if [[ -n ${R[peak_kib]:-} ]]; then
            peak=$(calc "${R[peak_kib]} / 1024")
            ((R[open] == SLOW_CONNS)) || warn "S6 $srv round $round: ${R[open]} of $SLOW_CONNS slow readers still open at the end (closed ${R[closed]}, failed ${R[failed]})"
            record S6 slow_peak_mib "$srv" "$round" "$peak"
            log "   $srv: $SLOW_CONNS slow readers, RSS ${R[before_kib]} KiB -> peak $(short "$peak") MiB"
        else
            warn "S6 $srv round $round: slow-reader test failed: ${line:-no output}"
        fi
        stop_server
    fi
}

# S7: HTTP/2 over cleartext with prior knowledge (h2c), 4 KiB file, 64
# connections with 10 streams each, for DUR seconds.
scenario_S7() {
    local srv=$1 round=$2 url version out rps ok failed ok2xx t0 t1
    start_server "$srv" || return 0
    url="http://127.0.0.1:$SRV_H2PORT/4k.bin"
    version=$(curl -s -o /dev/null --max-time 5 --http2-prior-knowledge -w '%{http_version}' "$url") || true
    if [[ $version != 2 ]]; then
        warn "S7 $srv: no HTTP/2 with prior knowledge on $url (curl saw '$version'); n/a"
        record S7 h2_rps "$srv" "$round" n/a
    else
        out="$WORK/logs/$RUN_SEQ-S7-$srv.h2load"
        t0=$(cpu_ticks)
        timeout -k 5 $((DUR + 60)) taskset -c $CLIENT_CPU \
            h2load -D "$DUR" -c 64 -m 10 "$url" >"$out" 2>&1 || true
        t1=$(cpu_ticks)
        rps=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$out")
        ok=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$out")
        failed=$(sed -n 's/^requests: .* \([0-9]*\) failed.*/\1/p' "$out")
        ok2xx=$(sed -n 's/^status codes: \([0-9]*\) 2xx.*/\1/p' "$out")
        if [[ -n $rps && ${ok:-0} -gt 0 ]]; then
            ((${failed:-0} == 0)) || warn "S7 $srv round $round: $failed h2load requests failed"
            ((${ok2xx:-0} >= ok)) || warn "S7 $srv round $round: only ${ok2xx:-0} of $ok responses were 2xx"
            record S7 h2_rps "$srv" "$round" "$rps"
            record S7 cpu_us "$srv" "$round" "$(cpu_us "$t0" "$t1" "$ok")"
            log "   $srv: $rps req/s ($ok succeeded, ${failed:-?} failed)"
        else
            warn "S7 $srv round $round: h2load gave no result; see $out"
            record S7 h2_rps "$srv" "$round" n/a
        fi
    fi
    stop_server
}

# --- the run ---------------------------------------------------------------------

first_line() { "$@" 2>&1 | head -1 || true; }
MACHINE="nproc $(nproc); CPU $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1);"
MACHINE+=" kernel $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg);"
MACHINE+=" nginx $NGINX_VERSION; lighttpd $LIGHTTPD_VERSION;"
MACHINE+=" wrk $(first_line wrk -v | sed -n 's/^wrk \([^ ]*\).*/\1/p');"
MACHINE+=" h2load $(first_line h2load --version | sed 's/^h2load //');"
MACHINE+=" $("$RS_BIN" --version) ($(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo 'no git'))"
log "== machine: $MACHINE"
log "== mode $MODE: rounds $ROUNDS, ${DUR} s per run, scenarios: $SCENARIOS"

BENCH_START=$SECONDS
for scen in $SCENARIOS; do
    log "== $scen"
    scen_start=$SECONDS
    warm_cache
    servers=(rangeserve nginx lighttpd)
    [[ $scen == S1 ]] && servers+=(sendfile-ref)
    for ((round = 1; round <= ROUNDS; round++)); do
        log "-- $scen round $round/$ROUNDS"
        if [[ $scen == S5 ]]; then
            scenario_S5 "$round" "${servers[@]}"
            continue
        fi
        for srv in "${servers[@]}"; do
            "scenario_$scen" "$srv" "$round"
        done
    done
    log "   ($scen took $((SECONDS - scen_start)) s)"
done
BENCH_SECS=$((SECONDS - BENCH_START))

args="--rounds $ROUNDS"
((QUICK)) && args="--quick $args"
read -ra chosen <<<"$SCENARIOS"
if [[ ${chosen[*]} != "$ALL_SCENARIOS" ]]; then
    args+=" --only $(IFS=,; echo "${chosen[*]}")"
fi

cat <<EOF
## rangeserve vs nginx vs lighttpd

Machine: $MACHINE.

Mode: $MODE, rounds: $ROUNDS, ${DUR} s per wrk/h2load run, servers interleaved
in each round; server pinned to CPU $SERVER_CPU, load generator to CPU $CLIENT_CPU; all on 127.0.0.1.
Command: \`bash benches/compare.sh $args\` ($BENCH_SECS s of measuring).

Median across rounds and min–max. **↑ higher is better; ↓ lower is better**
(latency, TTFB, RSS, CPU, errors). *rangeserve ÷ server* is rangeserve's median
over that server's: above 1 is better for ↑ rows, below 1 for ↓ rows.
n/a: the server could not do it (see warnings).

EOF
python3 "$HELPER" report "$RESULTS"
if [[ -s $WARNINGS ]]; then
    printf '\nWarnings:\n\n'
    cat "$WARNINGS"
fi
log "== done in $((SECONDS - START_TIME)) s (measuring $BENCH_SECS s)"
