#!/usr/bin/env python3
"""Ctrl-C (SIGINT) through the command line, checked from outside the process.

  cli_interrupt.py ACTINFER MODEL TEXT WORKDIR

- `run` interrupted while it generates: exit 130, the output ends with a newline,
  the stats say "stop: interrupted", and the --trace file is written (valid JSON).
- `profile` interrupted mid-way: exit 130, and no output file is left behind.
- a second SIGINT exits at once with 130.
"""
import json
import os
import signal
import subprocess
import sys
import time

actinfer, model, text, work = sys.argv[1:5]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def start(args):
    return subprocess.Popen([actinfer] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_stdout(proc, n_bytes, timeout):
    """Reads stdout until n_bytes arrived (the run is generating), or the timeout."""
    os.set_blocking(proc.stdout.fileno(), False)
    got = b""
    end = time.time() + timeout
    while len(got) < n_bytes and time.time() < end and proc.poll() is None:
        chunk = proc.stdout.read()
        if chunk:
            got += chunk
        time.sleep(0.02)
    return got


# 1. run: stats and trace after Ctrl-C.
trace = os.path.join(work, "interrupt_trace.json")
if os.path.exists(trace):
    os.remove(trace)
p = start(["run", "-m", model, "-p", "Once upon a time", "-n", "100000", "--temp", "0", "--trace", trace, "-t", "2"])
head = wait_for_stdout(p, len("Once upon a time") + 8, 60)
check(p.poll() is None, "run is still generating when interrupted")
p.send_signal(signal.SIGINT)
out, err = p.communicate(timeout=60)
out, err = head + out, err.decode(errors="replace")
print(err)
check(p.returncode == 130, f"run exits with 130 after Ctrl-C (got {p.returncode})")
check(out.endswith(b"\n"), "run ends its output with a newline")
check("stop: interrupted" in err, "run prints its stats with stop: interrupted")
check("generation: " in err, "run prints the generation line")
try:
    with open(trace) as f:
        json.load(f)
    check(True, "run writes a valid trace file")
except (OSError, ValueError) as e:
    check(False, f"run writes a valid trace file ({e})")

# 2. profile: nothing half-written.
out_path = os.path.join(work, "interrupt_profile.gguf")
if os.path.exists(out_path):
    os.remove(out_path)
p = start(["profile", "-m", model, "-f", text, "-o", out_path, "--ctx", "64", "-t", "2"])
time.sleep(2.5)
check(p.poll() is None, "profile is still running when interrupted")
p.send_signal(signal.SIGINT)
_, err = p.communicate(timeout=60)
check(p.returncode == 130, f"profile exits with 130 after Ctrl-C (got {p.returncode})")
check(not os.path.exists(out_path), "profile leaves no output file")

# 3. A second Ctrl-C quits at once.
p = start(["run", "-m", model, "-p", "Once upon a time", "-n", "100000", "-t", "2"])
wait_for_stdout(p, len("Once upon a time") + 4, 60)
p.send_signal(signal.SIGINT)
p.send_signal(signal.SIGINT)
p.communicate(timeout=30)
check(p.returncode == 130, f"a second Ctrl-C exits with 130 (got {p.returncode})")

sys.exit(1 if failures else 0)
