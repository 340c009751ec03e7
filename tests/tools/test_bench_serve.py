#!/usr/bin/env python3
"""tools/bench_serve.py and tools/bench_serve_vs_llamacpp.py against stand-in servers whose
streams are known: the tokens credited are the server's `usage` (else one per text chunk), a
stream shorter than asked is warned about, a failing server ends the run with an error (exit
status 1, at once), the tables have a row per server and concurrency. Run by ctest; exits
non-zero when a check failed."""
import os
import subprocess
import sys
import time

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools")
sys.path.insert(0, TOOLS)
import bench_serve  # noqa: E402
import bench_serve_vs_llamacpp  # noqa: E402

STAND_IN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stand_in_server.py")


class StandIn:
    """tests/tools/stand_in_server.py on a free port, shaped by STAND_IN_* settings; stopped on exit."""

    def __init__(self, **settings):
        port = bench_serve_vs_llamacpp.free_port()
        env = dict(os.environ, **{f"STAND_IN_{k.upper()}": str(v) for k, v in settings.items()})
        self.proc = subprocess.Popen([sys.executable, STAND_IN, "--port", str(port)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{port}"
        try:
            if not bench_serve_vs_llamacpp.healthy(port, time.time() + 60, self.proc):
                raise RuntimeError("the stand-in server did not start")
        except BaseException:
            self.__exit__()
            raise

    def __enter__(self):
        return self.url

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()


failures = []


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(what)


def run_script(url, max_tokens):
    return subprocess.run([sys.executable, os.path.join(TOOLS, "bench_serve.py"), "--url", url, "--concurrency", "1,2",
                           "--max-tokens", str(max_tokens), "--requests-per-slot", "1", "--label", "stand-in"],
                          capture_output=True, text=True, timeout=120)


# Chunks may carry several tokens: usage counts them, not the chunks.
with StandIn(chunks=4, usage=6) as url:
    r = bench_serve.one(url, 8, "")  # asked for 8: the old count (max_tokens) differs
    check("usage's completion_tokens are the tokens credited", r["tokens"] == 6, r)
    check("one gap between each two text chunks", len(r["gaps"]) == 3, r["gaps"])
    p = run_script(url, 6)
    rows = [l for l in p.stdout.splitlines() if l.startswith("| stand-in |")]
    check("full streams: exit status 0", p.returncode == 0, p.stderr)
    check("a table row per concurrency", [l.split("|")[2].strip() for l in rows] == ["1", "2"], p.stdout)
    check("full streams: no warning", "warning" not in p.stderr, p.stderr)

# No usage chunk: one token per text chunk.
with StandIn(chunks=5, usage="none") as url:
    r = bench_serve.one(url, 7, "")
    check("without usage, one token per text chunk", r["tokens"] == 5, r)

# A server that stops early is named, and only its tokens count.
with StandIn(chunks=3, usage=3) as url:
    p = run_script(url, 6)
    check("short streams: still exit status 0", p.returncode == 0, p.stderr)
    check("short streams: warned with the counts", "generated fewer than the 6 tokens asked for (3 .. 3" in p.stderr, p.stderr)

# A failing server ends the run with its status, not a traceback.
with StandIn(status=500) as url:
    p = run_script(url, 6)
    check("HTTP 500: exit status 1", p.returncode == 1, p.returncode)
    check("HTTP 500: named in the error", "bench_serve: error: HTTP 500" in p.stderr and "Traceback" not in p.stderr, p.stderr)

# tools/bench_serve_vs_llamacpp.py, both servers stand-ins: a row per server and concurrency, C=1 is 1.00x.

def run_pair(env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    t0 = time.time()
    p = subprocess.run([sys.executable, os.path.join(TOOLS, "bench_serve_vs_llamacpp.py"), "--actinfer", STAND_IN, "--llama-server", STAND_IN,
                        "-m", "unused.gguf", "--rounds", "2", "--concurrency", "1,2", "--max-tokens", "4", "--requests-per-slot", "1"],
                       capture_output=True, text=True, timeout=240, env=env)
    return p, time.time() - t0


p, _ = run_pair()
rows = [[c.strip() for c in l.split("|")[1:-1]] for l in p.stdout.splitlines() if l.startswith("| ") and "---" not in l][1:]
check("pair: exit status 0", p.returncode == 0, p.stderr)
check("pair: a row per server and C", [(r[0], r[1]) for r in rows] ==
      [("actinfer (actors)", "1"), ("actinfer (actors)", "2"), ("llama-server", "1"), ("llama-server", "2")], p.stdout)
check("pair: C=1 is the 1.00x base", all(r[3] == "1.00x" for r in rows if r[1] == "1"), p.stdout)
check("pair: full streams, no warning", "warning" not in p.stderr, p.stderr)
p, seconds = run_pair({"STAND_IN_EXIT": "3"})
check("a server that exits: exit status 1", p.returncode == 1, p.returncode)
check("a server that exits: named with its status", "actinfer (actors) exited with status 3" in p.stderr and "Traceback" not in p.stderr, p.stderr)
check("a server that exits: no wait for the health deadline", seconds < 60, seconds)

sys.exit(1 if failures else 0)
