#!/usr/bin/env python3
"""A test server that lies: it serves CONTENT with ranges, an ETag and a
Repr-Digest that is not CONTENT's (MODE=digest), or the right digest but
one corrupted byte in every body (MODE=corrupt). Prints its port."""
import base64
import hashlib
import http.server
import os
import sys

CONTENT = bytes((i * 7) % 251 for i in range(3 * 1024 * 1024))
MODE = sys.argv[1]
RIGHT = base64.b64encode(hashlib.sha256(CONTENT).digest()).decode()
WRONG = base64.b64encode(hashlib.sha256(b"something else").digest()).decode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        first, last, status = 0, len(CONTENT) - 1, 200
        spec = self.headers.get("Range", "")
        if spec.startswith("bytes="):
            a, b = spec[6:].split("-")
            first, last, status = int(a), min(int(b), len(CONTENT) - 1), 206
        body = bytearray(CONTENT[first:last + 1])
        if MODE == "corrupt" and len(body) > 1:
            body[len(body) // 2] ^= 0xFF
        self.send_response(status)
        self.send_header("ETag", '"v1"')
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Repr-Digest", "sha-256=:%s:" % (WRONG if MODE == "digest" else RIGHT))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (first, last, len(CONTENT)))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(bytes(body))


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
