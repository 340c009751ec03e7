#!/usr/bin/env python3
"""actinfer serve beside llama.cpp's llama-server, same model, same slots, same load, one run.

Each round starts every server in turn (actinfer on the actor runtime, optionally actinfer's
batched dense engine, llama-server with -np SLOTS), drives C concurrent streamed completions
(tools/bench_serve.py's client) for each C, and stops it; servers alternate round by round so
drift on a shared machine hits all alike. Prints medians over rounds as a Markdown table.

  tools/bench_serve_vs_llamacpp.py --llama-server /path/llama-server -m models/SmolLM2-135M-Instruct.Q4_1.gguf \\
      --concurrency 1,2,4,8 --slots 8 --rounds 3
"""
import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import http.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_serve  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(port, deadline, proc):
    """Whether the server on `port` answers /health with 200 before `deadline` (False at once if it exited)."""
    while time.time() < deadline and proc.poll() is None:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def measure(url, concurrency, max_tokens, per_slot):
    bench_serve.one(url, 4, "")  # warm-up
    out = {}
    for c in concurrency:
        m = bench_serve.run_load(url, c, max_tokens, per_slot)
        out[c] = (m["tokens_per_s"], statistics.median(m["ttft"]), bench_serve.pct(m["gaps"], 50))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--actinfer", default="build/actinfer")
    ap.add_argument("--llama-server", default="")
    ap.add_argument("-m", "--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--ctx", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--concurrency", default="1,2,4,8")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--requests-per-slot", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dense", action="store_true", help="also actinfer's batched dense engine (--runtime dense)")
    ap.add_argument("--also", action="append", default=[], metavar="LABEL=PATH",
                    help="also another actinfer binary on the actor runtime (e.g. a branch's build), same flags")
    a = ap.parse_args()
    conc = [int(x) for x in a.concurrency.split(",")]
    servers = [("actinfer (actors)", lambda p: [a.actinfer, "serve", "-m", a.model, "--port", str(p), "-P", str(a.slots), "-c", str(a.ctx),
                                                "-t", str(a.threads)])]
    if a.dense:
        servers.append(("actinfer (dense)", lambda p: [a.actinfer, "serve", "-m", a.model, "--port", str(p), "-P", str(a.slots), "-c",
                                                       str(a.ctx), "-t", str(a.threads), "--runtime", "dense"]))
    for also in a.also:
        label, _, path = also.partition("=")
        servers.append((label, lambda p, path=path: [path, "serve", "-m", a.model, "--port", str(p), "-P", str(a.slots), "-c", str(a.ctx),
                                                     "-t", str(a.threads)]))
    if a.llama_server:
        servers.append(("llama-server", lambda p: [a.llama_server, "-m", a.model, "--port", str(p), "-np", str(a.slots), "-c", str(a.ctx),
                                                   "-t", str(a.threads), "-tb", str(a.threads), "--no-webui", "-cb"]))
    runs = {label: [] for label, _ in servers}
    for r in range(a.rounds):
        order = servers if r % 2 == 0 else servers[::-1]
        for label, cmd in order:
            port = free_port()
            proc = subprocess.Popen(cmd(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                if not healthy(port, time.time() + 120, proc):
                    why = f"exited with status {proc.returncode}" if proc.poll() is not None else "did not become healthy in 120 s"
                    raise RuntimeError(f"{label} {why}: {' '.join(cmd(port))}")
                runs[label].append(measure(f"http://127.0.0.1:{port}", conc, a.max_tokens, a.requests_per_slot))
                print(f"round {r + 1} {label}: " + ", ".join(f"C={c} {v[0]:.1f} tok/s" for c, v in runs[label][-1].items()),
                      file=sys.stderr, flush=True)
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
    print(f"| server | C | aggregate tok/s (median of {a.rounds}) | vs C=1 | TTFT p50 ms | per-token p50 ms |")
    print("|---|--:|--:|--:|--:|--:|")
    for label, _ in servers:
        base = statistics.median(run[conc[0]][0] for run in runs[label])
        for c in conc:
            tps = statistics.median(run[c][0] for run in runs[label])
            ttft = statistics.median(run[c][1] for run in runs[label])
            gap = statistics.median(run[c][2] for run in runs[label])
            print(f"| {label} | {c} | {tps:.1f} | {tps / base:.2f}x | {1e3 * ttft:.0f} | {1e3 * gap:.1f} |")


if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, OSError) as e:
        sys.exit(f"bench_serve_vs_llamacpp: error: {e}")
