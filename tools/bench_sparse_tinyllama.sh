#!/usr/bin/env bash
# The sparse-decode benchmark of issue 4, reproducible on any machine:
#   a generated ReLU model of TinyLlama-1.1B shape (Q4_0, vocab 32000, ~90% of FFN
#   neurons inactive per token; --gate-rank 40 gives the gates the low-rank structure
#   that makes firing predictable, as in real ReLU models), trained predictors
#   (rank 64, 16384 tokens of the Devil's Dictionary: precision 0.86 vs 0.77 from 4096),
#   then `actinfer bench --sparse` decoding the evaluation text (the licence texts, never
#   trained on; teacher-forced): dense and sparse decode in one run, fraction computed,
#   bytes per token, ceiling, predictor time, and the predictor's recall on those tokens.
#   Random tokens (bench's default) would flatter sparse decode: the predictor misses
#   ~30% of the firing neurons on them (recall ~0.7 vs ~0.96 on text).
# Usage: tools/bench_sparse_tinyllama.sh [OUT_DIR] [THREADS]   (default build/eval, 2)
# Takes ~12 minutes on 2 cores the first time (model, texts, predictors are kept).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build/eval}
threads=${2:-2}
bin=build/actinfer
mkdir -p "$out"
model=$out/tinyllama_relu_gate40_q4_0.gguf
text=$out/devils_dictionary.txt
eval_text=$out/licenses.txt
pred=$out/tinyllama_relu_gate40_rank64_16k.pred.gguf
[ -f "$model" ] || "$bin" make-model -o "$model" --shape tinyllama-1.1b --type q4_0 --vocab 32000 --gate-rank 40 -q
[ -f "$text" ] || tools/make_calibration_text.sh "$text"
[ -f "$eval_text" ] || tools/make_eval_text.sh "$eval_text"
[ -f "$pred" ] || "$bin" train-predictor -m "$model" -f "$text" -o "$pred" -t "$threads" --tokens 16384 --rank 64
"$bin" bench -m "$model" -f "$eval_text" -p 16 -n 32 -r 7 -t "$threads" --sparse --predictors "$pred"
