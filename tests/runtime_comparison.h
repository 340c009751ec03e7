// Shared by the runtime and planner tests: a small generated ReLU model, and how far
// two evaluators' logits are apart over the same tokens.
#pragma once
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <span>
#include <string>

#include "engine/evaluator.h"
#include "model/synthetic_model.h"
#include "tests/test_data.h"

namespace actinfer::testing {

// 3 layers, width 128, 384 FFN neurons, 4/2 heads, vocab 300; written once per name.
inline std::filesystem::path small_relu_model(const std::string& name, GgmlType type, uint64_t seed, int n_layers = 3) {
  const auto path = test_data_path(name + ".gguf");
  if (!std::filesystem::exists(path)) {
    SyntheticModelConfig cfg;
    cfg.n_layers = n_layers;
    cfg.dim = 128;
    cfg.ffn = 384;
    cfg.n_heads = 4;
    cfg.n_kv_heads = 2;
    cfg.vocab = 300;
    cfg.type = type;
    cfg.output_type = type;
    cfg.seed = seed;
    write_synthetic_model(cfg, path);
  }
  return path;
}

// Logits of every position from both evaluators; max |a - b| / max |b|.
inline double relative_difference(Evaluator& a, Evaluator& b, std::span<const int32_t> tokens) {
  a.eval(tokens, true);
  b.eval(tokens, true);
  double diff = 0, scale = 0;
  for (int p = 0; p < static_cast<int>(tokens.size()); ++p) {
    const auto x = a.logits(p), y = b.logits(p);
    for (size_t v = 0; v < x.size(); ++v) {
      diff = std::max(diff, static_cast<double>(std::abs(x[v] - y[v])));
      scale = std::max(scale, static_cast<double>(std::abs(y[v])));
    }
  }
  return diff / scale;
}

}  // namespace actinfer::testing
