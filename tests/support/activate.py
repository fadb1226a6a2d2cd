#!/usr/bin/env python3
"""Socket activation as systemd does it (sd_listen_fds(3)), for tests.

Binds one listening TCP socket on 127.0.0.1 (port 0: a free one), prints the
port, then reads commands on stdin, one per line:

  start ARGV...   start ARGV with the socket as fd 3, LISTEN_FDS=1 and
                  LISTEN_PID=its own pid (exported by sh, then exec'd);
                  prints "PID FIRST-LINE-OF-ITS-STDOUT"
  term PID        SIGTERM, wait, print "exit CODE"
  kill PID        SIGKILL, wait, print "exit CODE"

The socket stays open in this process for as long as it runs, as it does in
systemd: a connection made while no server runs waits in its queue. Every
child is killed when stdin closes.
"""
import os
import signal
import socket
import subprocess
import sys

listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(1024)
if listener.fileno() != 3:
    os.dup2(listener.fileno(), 3)
print(listener.getsockname()[1], flush=True)

children = {}
try:
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "start":
            child = subprocess.Popen(
                ["sh", "-c", 'export LISTEN_PID=$$ LISTEN_FDS=1; exec "$@"', "sh"] + words[1:],
                pass_fds=(3,),
                stdout=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
            )
            children[child.pid] = child
            first = child.stdout.readline().decode().strip()
            print(child.pid, first, flush=True)
        elif words[0] in ("term", "kill"):
            child = children.pop(int(words[1]))
            child.send_signal(signal.SIGTERM if words[0] == "term" else signal.SIGKILL)
            print("exit", child.wait(timeout=30), flush=True)
finally:
    for child in children.values():
        child.kill()
        child.wait()
