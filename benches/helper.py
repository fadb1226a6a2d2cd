#!/usr/bin/env python3
"""Helpers for benches/compare.sh: the parts that are awkward in bash.

Subcommands:
  freeport        print a free TCP port on 127.0.0.1
  sendfile-ref    the S1 reference: answers every GET with one file via sendfile(2)
  cpu-ticks PID   utime+stime (clock ticks) of PID and all its descendants
  rss PID         VmRSS (KiB) of PID and all its descendants
  idle            S6: hold N idle keep-alive connections, report RSS per connection
  slow            S6: N slow readers of a large file, report peak RSS
  median          median of numbers on stdin
  report          the Markdown table from compare.sh's results.tsv

It owns no policy: durations, counts and ports come from compare.sh. Every loop
here is bounded by a count or a deadline; nothing listens beyond 127.0.0.1.
"""

import argparse
import os
import resource
import socket
import statistics
import sys
import threading
import time

LOOPBACK = "127.0.0.1"


# --- processes -------------------------------------------------------------


def descendants(root):
    """`root` and every process below it (nginx: the master and its workers)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue
        # NOTE: the command name is in parentheses and may contain spaces and
        # ')', so fields are counted from the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo and len(found) < 10000:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_ticks(root):
    total = 0
    for pid in descendants(root):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        # Fields 14 and 15 of proc(5) (utime, stime); fields[0] is field 3.
        total += int(fields[11]) + int(fields[12])
    return total


def rss_kib(root):
    total = 0
    for pid in descendants(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass


# --- freeport, sendfile-ref --------------------------------------------------


def cmd_freeport(_args):
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        print(s.getsockname()[1])


def serve_sendfile(conn, path, size):
    """HTTP/1.1 keep-alive: every request head gets 200 and the whole file."""
    fd = os.open(path, os.O_RDONLY)
    buf = b""
    try:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk or len(buf) > 65536:
                    return
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                b"Content-Length: %d\r\n\r\n" % size
            )
            if head.startswith(b"HEAD "):
                continue
            offset = 0
            while offset < size:
                sent = os.sendfile(conn.fileno(), fd, offset, size - offset)
                if sent == 0:
                    return
                offset += sent
    except OSError:
        return
    finally:
        os.close(fd)
        conn.close()


def cmd_sendfile_ref(args):
    raise_nofile()
    size = os.path.getsize(args.file)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((LOOPBACK, args.port))
    srv.listen(1024)
    print(f"Serving {args.file} at http://{LOOPBACK}:{srv.getsockname()[1]}/", flush=True)
    while True:  # ends with SIGTERM from compare.sh
        conn, _ = srv.accept()
        threading.Thread(target=serve_sendfile, args=(conn, args.file, size), daemon=True).start()


def cmd_cpu_ticks(args):
    print(cpu_ticks(args.pid))


def cmd_rss(args):
    print(rss_kib(args.pid))


# --- S6 clients ----------------------------------------------------------------


def read_response(sock):
    """Reads one response with a Content-Length body; returns the status."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise OSError("connection closed before the response head")
        buf += chunk
        if len(buf) > 1 << 20:
            raise OSError("response head too large")
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(min(65536, length - len(body)))
        if not chunk:
            raise OSError("connection closed in the body")
        body += chunk
    return status


def cmd_idle(args):
    """Opens `conns` keep-alive connections in batches (so no listen backlog
    overflows), completes one GET on each, holds them idle and compares the
    server's RSS with its RSS before."""
    raise_nofile()
    deadline = time.monotonic() + args.timeout
    request = f"GET {args.path} HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode()
    tls = None
    if args.proto == "tls":
        import ssl

        tls = ssl.create_default_context()
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    before = rss_kib(args.pid)
    socks, failed = [], 0
    for start in range(0, args.conns, 100):
        if time.monotonic() > deadline:
            break
        batch = []
        for _ in range(min(100, args.conns - start)):
            try:
                s = socket.create_connection((LOOPBACK, args.port), timeout=10)
                if tls is not None:
                    s = tls.wrap_socket(s, server_hostname="localhost")
                s.sendall(h2c_request(args.path) if args.proto == "h2c" else request)
                batch.append(s)
            except OSError:
                failed += 1
        for s in batch:
            try:
                ok = h2c_response(s) if args.proto == "h2c" else read_response(s) == 200
                if ok:
                    socks.append(s)
                    continue
            except (OSError, ValueError, IndexError):
                pass
            failed += 1
            s.close()
    time.sleep(args.settle)
    with_conns = rss_kib(args.pid)
    per_conn = (with_conns - before) / len(socks) if socks else float("nan")
    print(
        f"BENCH before_kib={before} with_kib={with_conns} ok={len(socks)} "
        f"failed={failed} per_conn_kib={per_conn:.3f}"
    )
    for s in socks:
        s.close()


def h2_frame(kind, flags, stream, payload):
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload


def h2c_request(path):
    """The HTTP/2 preface, empty SETTINGS and one GET on stream 1 (HPACK:
    indexed :method GET, :scheme http; :path and :authority literal)."""
    block = b"\x82\x86" + b"\x04" + bytes([len(path)]) + path.encode()
    block += b"\x01" + bytes([len(LOOPBACK)]) + LOOPBACK.encode()
    return (
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        + h2_frame(4, 0, 0, b"")
        + h2_frame(1, 0x5, 1, block)  # END_STREAM | END_HEADERS
    )


def h2c_response(sock):
    """Reads frames until stream 1 ends; acknowledges the server's SETTINGS."""
    buf = b""
    while True:
        while len(buf) < 9:
            chunk = sock.recv(65536)
            if not chunk:
                raise ValueError("closed")
            buf += chunk
        length = int.from_bytes(buf[:3], "big")
        while len(buf) < 9 + length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ValueError("closed")
            buf += chunk
        kind, flags, stream = buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
        buf = buf[9 + length :]
        if kind == 4 and not flags & 1:
            sock.sendall(h2_frame(4, 1, 0, b""))
        if stream == 1 and kind in (0, 1) and flags & 1:
            return True
        if kind == 7 or (kind == 3 and stream == 1):
            return False


def cmd_slow(args):
    """`conns` clients each GET the file and read `rate` bytes per second for
    `seconds`; the server's RSS is sampled every `tick` seconds."""
    raise_nofile()
    request = f"GET {args.path} HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode()
    before = rss_kib(args.pid)
    socks, failed = [], 0
    for _ in range(args.conns):
        try:
            s = socket.create_connection((LOOPBACK, args.port), timeout=10)
            s.sendall(request)
            s.setblocking(False)
            socks.append(s)
        except OSError:
            failed += 1
    budget = int(args.rate * args.tick)
    peak, received, closed = before, 0, 0
    start = time.monotonic()
    ticks = int(args.seconds / args.tick)
    for n in range(1, ticks + 1):
        for i, s in enumerate(socks):
            if s is None:
                continue
            left = budget
            while left > 0:
                try:
                    data = s.recv(left)
                except BlockingIOError:
                    break
                except OSError:
                    data = b""
                if not data:
                    s.close()
                    socks[i] = None
                    closed += 1
                    break
                left -= len(data)
                received += len(data)
        peak = max(peak, rss_kib(args.pid))
        pause = start + n * args.tick - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    open_at_end = sum(1 for s in socks if s is not None)
    print(
        f"BENCH before_kib={before} peak_kib={peak} open={open_at_end} "
        f"closed={closed} failed={failed} received={received}"
    )
    for s in socks:
        if s is not None:
            s.close()


def cmd_median(_args):
    values = [float(v) for v in sys.stdin.read().split()]
    print(f"{statistics.median(values):.6f}" if values else "nan")


# --- report ------------------------------------------------------------------------

SERVERS = ["rangeserve", "nginx", "lighttpd", "sendfile-ref"]

# (scenario, key, label, higher_is_better)
METRICS = [
    ("S1", "gbps_c1", "1 GiB full GET, 1 conn: GB/s", True),
    ("S1", "cpu_c1", "1 GiB full GET, 1 conn: server CPU s per GiB", False),
    ("S1", "gbps_c4", "1 GiB full GET, 4 conns: GB/s", True),
    ("S1", "cpu_c4", "1 GiB full GET, 4 conns: server CPU s per GiB", False),
    ("S2", "rps", "4 KiB GET, 64 conns: req/s", True),
    ("S2", "p99_ms", "4 KiB GET, 64 conns: p99 latency ms", False),
    ("S2", "cpu_us", "4 KiB GET, 64 conns: server CPU µs per request", False),
    ("S3", "rps", "Range 1000-1999 of 1 MiB, 64 conns: req/s", True),
    ("S3", "cpu_us", "Range 1000-1999 of 1 MiB: server CPU µs per request", False),
    ("S3", "non206", "Range 1000-1999 of 1 MiB: non-206 responses", False),
    ("S4", "rps", "random 64 KiB ranges of 1 GiB, 64 conns: req/s", True),
    ("S5", "ttfb_ms", "Range at byte 6,000,000,000 of sparse 6 GiB: median TTFB ms", False),
    ("S6", "idle_kib", "2000 idle keep-alive conns: RSS KiB per conn", False),
    ("S6", "slow_peak_mib", "200 slow readers of 1 GiB: peak RSS MiB", False),
    ("S7", "h2_rps", "HTTP/2 h2c 4 KiB, 64 conns x 10 streams: req/s", True),
    ("S7", "cpu_us", "HTTP/2 h2c 4 KiB: server CPU µs per request", False),
]


def fmt(x):
    if x != x:  # NaN
        return "n/a"
    if x == int(x) and abs(x) < 1000:
        return str(int(x))
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def cmd_report(args):
    values = {}
    with open(args.results) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 5:
                continue
            scen, key, server, _round, value = parts
            try:
                v = float(value)
            except ValueError:
                v = float("nan")
            values.setdefault((scen, key, server), []).append(v)

    print("| scenario | metric | better | server | median | min–max | rounds | rangeserve ÷ server |")
    print("|---|---|---|---|---:|---:|---:|---:|")
    for scen, key, label, higher in METRICS:
        servers = [s for s in SERVERS if (scen, key, s) in values]
        if not servers:
            continue
        medians = {}
        for s in servers:
            good = [v for v in values[(scen, key, s)] if v == v]
            medians[s] = statistics.median(good) if good else float("nan")
        first = True
        for s in servers:
            vals = values[(scen, key, s)]
            good = [v for v in vals if v == v]
            spread = f"{fmt(min(good))}–{fmt(max(good))}" if good else "n/a"
            ratio = ""
            if s != "rangeserve":
                a, b = medians.get("rangeserve", float("nan")), medians[s]
                ratio = f"{a / b:.2f}" if a == a and b == b and b != 0 else "–"
            cells = [
                scen if first else "",
                label if first else "",
                ("↑ higher" if higher else "↓ lower") if first else "",
                s,
                fmt(medians[s]),
                spread,
                f"{len(good)}/{len(vals)}",
                ratio,
            ]
            print("| " + " | ".join(cells) + " |")
            first = False


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    sub.add_parser("freeport").set_defaults(func=cmd_freeport)

    s = sub.add_parser("sendfile-ref")
    s.add_argument("--file", required=True)
    s.add_argument("--port", type=int, default=0)
    s.set_defaults(func=cmd_sendfile_ref)

    for name, func in (("cpu-ticks", cmd_cpu_ticks), ("rss", cmd_rss)):
        s = sub.add_parser(name)
        s.add_argument("pid", type=int)
        s.set_defaults(func=func)

    s = sub.add_parser("idle")
    s.add_argument("--pid", type=int, required=True, help="the server's root process")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--path", default="/4k.bin")
    s.add_argument("--conns", type=int, default=2000)
    s.add_argument("--settle", type=float, default=0.5, help="seconds to wait before sampling")
    s.add_argument("--timeout", type=float, default=60.0)
    s.add_argument("--proto", choices=["http1", "h2c", "tls"], default="http1",
                   help="HTTP/1.1, HTTP/2 without TLS, or HTTP/1.1 over TLS")
    s.set_defaults(func=cmd_idle)

    s = sub.add_parser("slow")
    s.add_argument("--pid", type=int, required=True, help="the server's root process")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--path", default="/1g.bin")
    s.add_argument("--conns", type=int, default=200)
    s.add_argument("--rate", type=int, default=65536, help="bytes per second per reader")
    s.add_argument("--seconds", type=float, default=10.0)
    s.add_argument("--tick", type=float, default=0.2)
    s.set_defaults(func=cmd_slow)

    sub.add_parser("median").set_defaults(func=cmd_median)

    s = sub.add_parser("report")
    s.add_argument("results")
    s.set_defaults(func=cmd_report)

    args = p.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
