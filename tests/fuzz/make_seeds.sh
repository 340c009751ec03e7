#!/usr/bin/env bash
# Regenerates the binary seeds of the fuzz targets with actinfer (tests/fuzz/README.md):
# tiny models of each weight type, side files made for seeds/model.gguf, and a trace.
#   tests/fuzz/make_seeds.sh [build/actinfer]
set -euo pipefail
cd "$(dirname "$0")/../.."
A=${1:-build/actinfer}
S=tests/fuzz/seeds
M=$S/model.gguf
$A make-model -o $M --layers 2 --dim 32 --ffn 64 --heads 2 --kv-heads 1 --vocab 260 --ctx 64 --type q8_0 --seed 3 -q
for t in f16 bf16 q4_0 q4_1; do
  $A make-model -o $S/gguf_model/tiny_$t.gguf --layers 1 --dim 32 --ffn 32 --heads 2 --kv-heads 1 --vocab 260 --ctx 16 --type $t --seed 4 -q
done
$A make-model -o $S/gguf_model/tiny_tied_silu.gguf --layers 1 --dim 32 --ffn 32 --heads 2 --kv-heads 2 --vocab 260 --ctx 16 \
  --type q8_0 --tied --activation silu --seed 5 -q
cp $M $S/gguf_model/tiny_q8_0.gguf
$A profile -m $M -f README.md -o $S/profile/relu.gguf --ctx 24 --max-tokens 96 -t 1
$A profile -m $M --ffn-activation silu -f README.md -o $S/profile/silu_other_activation.gguf --ctx 24 --max-tokens 96 -t 1 \
  --sparsity 0.5 --allocate uniform
$A plan -m $M --profile $S/profile/relu.gguf --vram-budget 20KiB --ctx 16 -o $S/placement/plan.gguf
$A train-predictor -m $M -f README.md -o $S/predictor/trained.gguf --rank 32 --ctx 32 -t 1 --tokens 400 --epochs 1
$A run -m $M -p "hello world" -n 4 --config configs/test-two-teams.conf --trace $S/trace/run.json
