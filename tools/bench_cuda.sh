#!/usr/bin/env bash
# Issue 5 on a GPU machine: build with CUDA, run the CUDA tests, then decode tokens/s of the
# cuda backend (`actinfer bench`, actor runtime) for
#   (a) the default model, SmolLM2-135M-Instruct Q4_1 (SwiGLU), and
#   (b) a generated ReLU model of LLaMA-7B shape in Q4_0 (vocab 32000; --gate-rank 40 gives
#       the gates the low-rank structure that makes firing predictable, as in real ReLU
#       models; trained predictors, rank 64),
# each with dense kernels (every neuron) and sparse kernels (trained predictors), under VRAM
# budgets of 25%, 50% and 100% of the weights. A budget is p x (the weights the gpu-worker
# would hold with every neuron hot, in the form that mode holds them: dense rows, or neuron
# bundles plus predictors) + the KV cache; the hot fraction is what fits after attention,
# output head and KV cache; the rest of the FFN runs on the CPU team. Where attention, output
# head and KV cache alone exceed a budget (LLaMA-7B at 25%: attention is a third of the
# weights), the runtime refuses and that is printed. The dense CPU engine gives the baseline.
# Nothing is downloaded: the calibration text is the Devil's Dictionary where it is installed
# (tools/make_calibration_text.sh), else this repository's documentation.
#
# Usage: tools/bench_cuda.sh [OUT_DIR] [THREADS]   (default build-cuda/eval, all cores)
# First run: ~10-20 minutes (the 7B model, ~3.9 GB, and its predictors are kept in OUT_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build-cuda/eval}
threads=${2:-$(nproc)}
build=build-cuda
ctx=512

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
make -C "$build" -j"$(nproc)" actinfer actinfer_tests
bin=$build/actinfer
echo "== CUDA tests"
"$build"/tests/actinfer_tests -tc="cuda*" || echo "bench_cuda.sh: CUDA tests FAILED (benchmarks follow anyway)" >&2
echo "== gemv kernel speed (4096 x 4096)"
"$build"/actinfer bench-gemv

mkdir -p "$out"
text=$out/calibration.txt
if [ ! -s "$text" ]; then
  tools/make_calibration_text.sh "$text" 2>/dev/null || cat README.md docs/*.md configs/README.md data/README.md protocol/README.md > "$text"
fi

smollm=models/SmolLM2-135M-Instruct.Q4_1.gguf
llama=$out/llama7b_relu_gate40_q4_0.gguf
[ -f "$llama" ] || "$bin" make-model -o "$llama" --shape llama-7b --type q4_0 --vocab 32000 --gate-rank 40 -q
smollm_pred=$out/smollm2_rank32.pred.gguf
llama_pred=$out/llama7b_relu_gate40_rank64.pred.gguf
if [ -f "$smollm" ] && [ ! -f "$smollm_pred" ]; then
  "$bin" train-predictor -m "$smollm" -f "$text" -o "$smollm_pred" -t "$threads" --sparsity 0.5 --tokens 4096 --rank 32
fi
[ -f "$llama_pred" ] || "$bin" train-predictor -m "$llama" -f "$text" -o "$llama_pred" -t "$threads" --tokens 2048 --rank 64

common=(--config configs/cuda-workstation.conf --set "actinfer.team.0.cores=[]" --set actinfer.team.0.threads=0
        -t "$threads" --ctx "$ctx" -p 16 -n 64 -r 3 --compare actors)

# MiB of one part of the gpu-worker's footprint, from the runtime's over-budget message
# (it lists attention, hot FFN, lm_head, KV cache and predictors before any device is used).
footprint() {  # model, mode (dense|sparse), predictor file
  local args=(run -m "$1" -n 0 -p x --ctx "$ctx" --config configs/cuda-workstation.conf --set "actinfer.team.0.cores=[]"
              --set actinfer.vram-budget=1 --set actinfer.hot-fraction=1.0)
  if [ "$2" = sparse ]; then args+=(--sparse --predictors "$3"); else args+=(--set actinfer.sparse=false); fi
  "$bin" "${args[@]}" 2>&1 | grep -o 'needs .* but the VRAM budget' | head -1 || true
}
part() {  # message, label -> MiB (0 if absent)
  echo "$1" | sed -nE "s/.*$2 ([0-9.]+) MiB.*/\1/p" | awk '{ v = $1 } END { print (v == "" ? 0 : v) }'
}

bench_model() {  # name, model, predictor file
  local name=$1 model=$2 pred=$3
  echo
  echo "== $name: CPU baseline (dense engine, $threads threads)"
  "$bin" bench -m "$model" -t "$threads" --ctx "$ctx" -p 16 -n 64 -r 3 --compare dense | grep -E 'decode|prompt' || true
  for mode in dense sparse; do
    local msg att hot lm kv pr fixed weights
    msg=$(footprint "$model" "$mode" "$pred")
    if [ -z "$msg" ]; then echo "bench_cuda.sh: could not read the footprint of $model ($mode)" >&2; continue; fi
    att=$(part "$msg" attention); hot=$(part "$msg" "hot FFN"); lm=$(part "$msg" lm_head)
    kv=$(part "$msg" "KV cache"); pr=$(part "$msg" predictors)
    fixed=$(awk -v a="$att" -v l="$lm" -v k="$kv" -v p="$pr" 'BEGIN { print a + l + k + p }')
    weights=$(awk -v a="$att" -v h="$hot" -v l="$lm" -v p="$pr" 'BEGIN { print a + h + l + p }')
    echo "== $name, $mode kernels: weights on the GPU at 100% hot $weights MiB (attention $att, hot FFN $hot, lm_head $lm, predictors $pr) + KV cache $kv MiB"
    for pct in 25 50 100; do
      local budget_mib frac budget_bytes
      budget_mib=$(awk -v p="$pct" -v w="$weights" -v k="$kv" 'BEGIN { printf "%.1f", p / 100 * w + k }')
      # The hot fraction that fits, 2% under it: the runtime rounds it to whole blocks of 32 neurons.
      frac=$(awk -v b="$budget_mib" -v f="$fixed" -v h="$hot" -v p="$pct" \
        'BEGIN { x = p == 100 ? 1 : (b - f) / h - 0.02; if (x > 1) x = 1; printf "%.4f", x }')
      # + 1 MiB: the footprint's parts were read rounded to 0.1 MiB.
      budget_bytes=$(awk -v b="$budget_mib" 'BEGIN { printf "%d", (b + 1) * 1048576 }')
      if awk -v x="$frac" 'BEGIN { exit !(x < 0) }'; then
        echo "-- $pct% ($budget_mib MiB): does not fit: attention + lm_head + KV cache + predictors alone need $fixed MiB"
        continue
      fi
      echo "-- $pct% ($budget_mib MiB): hot fraction $frac"
      local args=(bench -m "$model" "${common[@]}" --set actinfer.vram-budget="$budget_bytes" --set actinfer.hot-fraction="$frac")
      if [ "$mode" = sparse ]; then args+=(--sparse --predictor trained --predictors "$pred"); else args+=(--set actinfer.sparse=false --predictor all); fi
      "$bin" "${args[@]}" 2>&1 | grep -E 'decode|prompt|FFN computed|needs|error|refus' || echo "   (no result; run it by hand: $bin ${args[*]})"
    done
  done
}

if [ -f "$smollm" ]; then
  bench_model "SmolLM2-135M Q4_1" "$smollm" "$smollm_pred"
else
  echo "bench_cuda.sh: $smollm missing (./setup.sh fetches it); skipped" >&2
fi
bench_model "LLaMA-7B-shape ReLU Q4_0 (generated)" "$llama" "$llama_pred"
