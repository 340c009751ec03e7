#!/usr/bin/env bash
# Prompt speed (pp512) of every weight type with a quantizer, beside llama.cpp's llama-bench in one
# run per type (tools/bench_vs_llamacpp.py: alternated repeats, medians, ratio).
# The models are synthetic (make-model --shape tinyllama-1.1b: 22 blocks, 2048 / 5632, GQA 32/4),
# so every type, K and IQ4_XS included, tiles the rows; they are written once under build/eval/types.
#   tools/bench_types_vs_llamacpp.sh /path/to/llama-bench [TYPES...]
# REPEATS (3), PP (512); NO_MMAP=1: both engines read the model into memory (--no-mmap, -mmp 0).
set -euo pipefail
cd "$(dirname "$0")/.."
LLAMA_BENCH=${1:?usage: $0 /path/to/llama-bench [types...]}
shift
TYPES=("$@")
[ ${#TYPES[@]} -gt 0 ] || TYPES=(f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q3_k q4_k q5_k q6_k iq4_nl iq4_xs)
PP=${PP:-512}
REPEATS=${REPEATS:-3}
mkdir -p build/eval/types
for t in "${TYPES[@]}"; do
  model=build/eval/types/tinyllama_$t.gguf
  [ -f "$model" ] || build/actinfer make-model -q -o "$model" --shape tinyllama-1.1b \
      --type "$t"
  echo "== $t" >&2
  python3 tools/bench_vs_llamacpp.py -m "$model" --llama-bench "$LLAMA_BENCH" --pp "$PP" --tg 0 \
      -r "$REPEATS" -o md --cache-type f16 ${NO_MMAP:+--no-mmap} | tail -n +3 | sed "s/^| pp$PP /| $t pp$PP /"
done
