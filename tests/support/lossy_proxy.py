"""An HTTP proxy in front of the emulator that behaves like a bad network:
each request can be delayed, and the answer to the first copy of chosen writes
is lost after the emulator processed it (the client sees a 500, as when a
connection drops on the way back), so the client's retry meets its own write.

Usage: lossy_proxy.py TARGET_URL [--delay-ms N] [--lose REGEX] [--log FILE --log-header NAME]
Prints the port it listens on (127.0.0.1), then serves until killed.
--lose: PUT/POST/DELETE requests whose path matches REGEX lose the answer of
their first copy (a retry, same method, path and body, gets the real answer).
"""
import argparse
import hashlib
import http.client
import http.server
import re
import sys
import threading
import time
import urllib.parse

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--lose", default=None)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--log", default=None, help="append 'METHOD PATH QUERY<TAB>HEADER-VALUE' per request")
    ap.add_argument("--log-header", default="x-amz-expected-bucket-owner")
    args = ap.parse_args()
    target = urllib.parse.urlparse(args.target)
    lose = re.compile(args.lose) if args.lose else None
    seen = set()
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                out = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def forward(self):
            data = self.body()
            if args.verbose:
                print(self.command, self.path, len(data), file=sys.stderr, flush=True)
            if args.log:
                with lock, open(args.log, "a") as log:
                    log.write(f"{self.command} {self.path}\t{self.headers.get(args.log_header, '')}\n")
            if args.delay_ms:
                time.sleep(args.delay_ms / 1000)
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            headers["Content-Length"] = str(len(data))
            conn.request(self.command, self.path, body=data, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            path = self.path.split("?")[0]
            drop = False
            if lose and self.command in ("PUT", "POST", "DELETE") and lose.search(path):
                with lock:
                    key = (self.command, self.path, hashlib.sha256(data).hexdigest())
                    drop = key not in seen
                    seen.add(key)
            if drop:
                msg = b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>'
                self.send_response(500)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)
                return
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in HOP and k.lower() != "content-length":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = forward

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
