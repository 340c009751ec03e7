#!/usr/bin/env python3
"""A stand-in for `actinfer serve` and `llama-server` in the benchmark scripts' tests: serves
/health and streamed /v1/completions on the --port it is given (other arguments ignored).
Each stream is text chunks, then a last chunk with usage, then [DONE]. The environment
shapes it (the scripts start servers with their own command lines):
  STAND_IN_CHUNKS=N   text chunks per stream (default: the max_tokens asked for)
  STAND_IN_USAGE=N    completion_tokens in usage, or "none" for no usage (default: the chunks)
  STAND_IN_STATUS=N   answer every completion with this HTTP status and no stream
  STAND_IN_EXIT=N     exit at once with status N (a server that fails to start)
A request that is not streamed with ignore_eos gets 400."""
import argparse
import http.server
import json
import os
import sys


def sse(obj):
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    a, _ = ap.parse_known_args()
    env = os.environ
    if env.get("STAND_IN_EXIT"):
        sys.exit(int(env["STAND_IN_EXIT"]))

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status, body):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self.reply(200, b'{"status": "ok"}') if self.path == "/health" else self.reply(404, b"{}")

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if body.get("stream") is not True or body.get("ignore_eos") is not True:
                return self.reply(400, b"not a streamed request with ignore_eos")
            if env.get("STAND_IN_STATUS"):
                return self.reply(int(env["STAND_IN_STATUS"]), b"no")
            chunks = int(env.get("STAND_IN_CHUNKS", body["max_tokens"]))
            usage = env.get("STAND_IN_USAGE", str(chunks))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for _ in range(chunks):
                self.wfile.write(sse({"choices": [{"index": 0, "text": "ab", "finish_reason": None}]}))
                self.wfile.flush()
            last = {"choices": [{"index": 0, "text": "", "finish_reason": "length"}]}
            if usage != "none":
                last["usage"] = {"prompt_tokens": 5, "completion_tokens": int(usage), "total_tokens": 5 + int(usage)}
            self.wfile.write(sse(last) + b"data: [DONE]\n\n")
            self.close_connection = True

    http.server.ThreadingHTTPServer(("127.0.0.1", a.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
