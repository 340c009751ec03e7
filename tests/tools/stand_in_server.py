#!/usr/bin/env python3
"""A stand-in for `actinfer serve` and `llama-server` in the benchmark scripts' tests: serves
/health and streamed /v1/completions on the --port it is given (other arguments ignored): a
text chunk per token asked for, then a last chunk with usage. With STAND_IN_EXIT=N in the
environment it exits at once with status N instead (a server that fails to start)."""
import argparse
import http.server
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    a, _ = ap.parse_known_args()
    if os.environ.get("STAND_IN_EXIT"):
        sys.exit(int(os.environ["STAND_IN_EXIT"]))

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body = b'{"status": "ok"}' if self.path == "/health" else b"{}"
            self.send_response(200 if self.path == "/health" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            n = body["max_tokens"]
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for _ in range(n):
                self.wfile.write(b'data: {"choices": [{"index": 0, "text": "a", "finish_reason": null}]}\n\n')
            usage = {"prompt_tokens": 5, "completion_tokens": n, "total_tokens": 5 + n}
            last = {"choices": [{"index": 0, "text": "", "finish_reason": "length"}], "usage": usage}
            self.wfile.write(b"data: " + json.dumps(last).encode() + b"\n\ndata: [DONE]\n\n")
            self.close_connection = True

    http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
