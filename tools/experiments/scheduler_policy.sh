#!/usr/bin/env bash
# CAF scheduler policy (issue 19): actors/dense decode ratio for `sharing` and `stealing`,
# alternated, on a quiet host and beside one nice-19 CPU-bound process, and the CPU an idle
# actor runtime burns while `chat` waits for input. Usage: tools/experiments/scheduler_policy.sh [MODEL] [ROUNDS]
set -euo pipefail
model=${1:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
rounds=${2:-3}
bin=./build/actinfer
ratio() {  # policy -> "tok/s ratio"
  "$bin" bench -m "$model" -p 0 -n 64 -r 9 --no-config --set scheduler.policy="$1" 2>&1 |
    awk '/^actors  decode/ {t=$4} /^actors\/dense decode/ {r=$3} END {print t, r}'
}
for phase in quiet busy; do
  hog=
  if [[ $phase == busy ]]; then nice -n 19 bash -c 'while :; do :; done' & hog=$!; sleep 1; fi
  for ((i = 0; i < rounds; ++i)); do
    for policy in sharing stealing; do echo "$phase $policy $(ratio $policy)"; done
  done
  [[ -n $hog ]] && kill "$hog" && wait "$hog" 2>/dev/null || true
done
# Idle: chat loads the model, then waits on stdin for 10 s; count the CPU it used while waiting.
for policy in sharing stealing; do
  fifo=$(mktemp -u) && mkfifo "$fifo"
  "$bin" chat -m "$model" --no-config --set scheduler.policy="$policy" <"$fifo" >/dev/null 2>&1 &
  pid=$!
  exec {w}>"$fifo"
  sleep 3
  t0=$(awk '{print $14 + $15}' /proc/$pid/stat)
  sleep 10
  t1=$(awk '{print $14 + $15}' /proc/$pid/stat)
  exec {w}>&-
  wait "$pid" || true
  rm -f "$fifo"
  echo "idle $policy cpu_ticks_in_10s $((t1 - t0)) (of $(getconf CLK_TCK)/s)"
done
