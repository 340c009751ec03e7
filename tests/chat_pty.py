#!/usr/bin/env python3
"""`actinfer chat` under a pseudo-terminal, as a person would use it.

  chat_pty.py ACTINFER MODEL

Two turns with greedy decoding; the second refers to the first ("Remember the
number 42." then "Which number did I ask you to remember?"): its reply must
name 42, which only the first turn holds. /stats must show that the second
turn reused the first turn's tokens from the KV cache and prefilled only the
new turn. Ctrl-C stops a third reply and returns to the prompt; Ctrl-D ends the session with exit code 0.
"""
import os
import pty
import re
import select
import sys
import time

actinfer, model = sys.argv[1:3]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


pid, fd = pty.fork()
if pid == 0:
    os.execv(actinfer, [actinfer, "chat", "-m", model, "--temp", "0", "-n", "40", "--runtime", "dense", "-t", "2"])

transcript = b""


def read_until(pattern, timeout=120):
    """Reads the terminal until `pattern` (bytes regex) appears after what was read before."""
    global transcript
    start = len(transcript)
    end = time.time() + timeout
    while time.time() < end:
        if re.search(pattern, transcript[start:]):
            return transcript[start:]
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            transcript += data
    return transcript[start:] if re.search(pattern, transcript[start:]) else None


def say(line):
    os.write(fd, line.encode() + b"\r")


check(read_until(rb"> ") is not None, "chat shows its prompt")
say("Remember the number 42.")
check(read_until(rb"\n> ") is not None, "first reply, then the prompt again")
say("Which number did I ask you to remember?")
reply2 = read_until(rb"\n> ")
check(reply2 is not None, "second reply, then the prompt again")
body = (reply2 or b"").split(b"remember?", 1)[-1]
check(b"42" in body, "the second reply names 42, from the first turn")
say("/stats")
stats = read_until(rb"context: \d+ of \d+ tokens.*\n")
m = re.search(rb"reused (\d+) cached tokens, prefilled (\d+) new", stats or b"")
check(m is not None, "/stats reports the reused and prefilled tokens")
if m:
    reused, prefilled = int(m.group(1)), int(m.group(2))
    print(f"second turn: reused {reused}, prefilled {prefilled}")
    # The first turn (system, user, reply) is well over 40 tokens; the new turn
    # ("<|im_end|>\n<|im_start|>user\n...?<|im_end|>\n<|im_start|>assistant\n") about 20.
    check(reused > 40, "the second turn reused the first turn from the cache")
    check(prefilled < 30, "the second turn prefilled only the new turn")
say("Tell me a long story about a dragon.")
check(read_until(rb"dragon\.\r?\n[^>]*\w+ \w+ \w+") is not None, "a third reply starts")
os.write(fd, b"\x03")  # Ctrl-C stops the reply
check(read_until(rb"\n> ") is not None, "Ctrl-C stops the reply and returns to the prompt")
say("/stats")
check(read_until(rb"stop: interrupted(.|\n)*\n> ") is not None, "/stats says the reply was interrupted")
# Ctrl-D only once the line editor is back at its prompt: a terminal switched to raw mode
# flushes what was typed before, as it would a person's keystroke typed too early.
time.sleep(0.5)
os.write(fd, b"\x04")  # Ctrl-D
deadline = time.time() + 60  # never hang the test suite on a child that does not exit
status = None
while time.time() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.1)
else:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    status = -1
check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"Ctrl-D exits with 0 (status {status})")
if failures:
    print(transcript.decode(errors="replace"))
sys.exit(1 if failures else 0)
