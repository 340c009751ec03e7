#!/usr/bin/env python3
"""Load generator for OpenAI-compatible servers (`actinfer serve`, llama.cpp's llama-server).

For each concurrency C it keeps C streamed completions in flight (fixed prompt, fixed
length: ignore_eos) until `--requests-per-slot` x C have finished, and reports aggregate
decode tokens/s, time to first token and per-token latency (p50/p99). Tokens are those the
server says it generated (`usage` in the stream's last chunk, as actinfer and llama-server
send it; else one per text chunk): a server that stops early is warned about, not credited.

  tools/bench_serve.py --url http://127.0.0.1:8080 --concurrency 1,2,4,8 --max-tokens 64
Output: one Markdown table row per C (add --label to name the server).
"""
import argparse
import concurrent.futures
import http.client
import json
import statistics
import sys
import time
import urllib.parse

PROMPT = ("Write a short story about a lighthouse keeper who finds a message in a bottle. "
          "Describe the sea, the weather and the keeper's thoughts in detail.")


def one(url, max_tokens, model):
    u = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    body = {"prompt": PROMPT, "max_tokens": max_tokens, "temperature": 0, "stream": True, "ignore_eos": True}
    if model:
        body["model"] = model
    t0 = time.perf_counter()
    conn.request("POST", "/v1/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    if r.status != 200:
        raise RuntimeError(f"HTTP {r.status}: {r.read()[:200]!r}")
    times = []
    usage = None
    buf = b""
    while True:
        chunk = r.read1(65536) if hasattr(r, "read1") else r.read(1)
        if not chunk:
            break
        buf += chunk
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            if not event.startswith(b"data: ") or event == b"data: [DONE]":
                continue
            d = json.loads(event[6:])
            if d.get("usage"):
                usage = d["usage"]
            if d.get("choices") and d["choices"][0].get("text"):
                times.append(time.perf_counter())
    conn.close()
    n = usage["completion_tokens"] if usage and "completion_tokens" in usage else len(times)
    return {"ttft": times[0] - t0 if times else float("nan"), "gaps": [b - a for a, b in zip(times, times[1:])],
            "tokens": n, "requested": max_tokens, "start": t0, "end": time.perf_counter()}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else float("nan")


def run_load(url, concurrency, max_tokens, per_slot, model=""):
    """C streams in flight until per_slot x C have finished: aggregate tok/s, TTFT and per-token gaps."""
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as ex:
        results = list(ex.map(lambda _: one(url, max_tokens, model), range(concurrency * per_slot)))
    wall = time.perf_counter() - t0
    short = [r["tokens"] for r in results if r["tokens"] < r["requested"]]
    if short:
        print(f"warning: {len(short)} of {len(results)} requests at C={concurrency} generated fewer than the {max_tokens} tokens "
              f"asked for ({min(short)} .. {max(short)}: the server stopped early); tok/s counts the tokens generated",
              file=sys.stderr, flush=True)
    return {"tokens_per_s": sum(r["tokens"] for r in results) / wall, "ttft": [r["ttft"] for r in results],
            "gaps": [g for r in results for g in r["gaps"]]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--concurrency", default="1,2,4,8")
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--requests-per-slot", type=int, default=2)
    ap.add_argument("--model", default="")
    ap.add_argument("--label", default="server")
    a = ap.parse_args()
    print("| server | C | aggregate decode tok/s | TTFT p50 ms | TTFT p99 ms | per-token p50 ms | per-token p99 ms |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    one(a.url, 4, a.model)  # warm-up
    for c in [int(x) for x in a.concurrency.split(",")]:
        m = run_load(a.url, c, a.max_tokens, a.requests_per_slot, a.model)
        ttft, gaps = m["ttft"], m["gaps"]
        print(f"| {a.label} | {c} | {m['tokens_per_s']:.1f} | {1e3 * statistics.median(ttft):.0f} | {1e3 * pct(ttft, 99):.0f} | "
              f"{1e3 * pct(gaps, 50):.1f} | {1e3 * pct(gaps, 99):.1f} |", flush=True)


if __name__ == "__main__":
    try:
        main()
    except (RuntimeError, OSError) as e:
        sys.exit(f"bench_serve: error: {e}")
