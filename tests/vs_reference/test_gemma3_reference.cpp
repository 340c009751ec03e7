// gemma3 against the independent numpy reference (tests/reference/llama_ref.py): generated
// tiny files with every gemma3 feature (heads wider than d / n_heads, q/k norms, post norms,
// GeGLU, NEOX RoPE with local and global bases, a sliding window shorter than the sequence,
// scaled embeddings) through the dense engine and the actor runtime; the real Gemma 3 270M
// file where setup.sh fetched it.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include "actors/actor_runtime.h"
#include "engine/dense_engine.h"
#include "engine/generator.h"
#include "reference_logits.h"
#include "tests/skip_report.h"
#include "tests/test_data.h"

using namespace actinfer;

namespace {

const std::string kGemma3Model = ACTINFER_SOURCE_DIR "/models/gemma-3-270m-q4_k_m.gguf";

struct Diff {
  double max_abs = 0, ref_std = 0;
  int argmax_mismatch = 0;
};

Diff compare(Evaluator& e, const testing::ReferenceLogits& ref) {
  e.eval(ref.tokens, true);
  Diff d;
  double sum = 0, sum2 = 0, n = 0;
  for (size_t p = 0; p < ref.tokens.size(); ++p) {
    const auto ours = e.logits(static_cast<int>(p));
    const float* theirs = ref.row(p);
    for (int v = 0; v < ref.n_vocab; ++v) {
      d.max_abs = std::max(d.max_abs, std::abs(static_cast<double>(ours[v]) - theirs[v]));
      sum += theirs[v];
      sum2 += static_cast<double>(theirs[v]) * theirs[v];
      n += 1;
    }
    const auto a = std::max_element(ours.begin(), ours.end()) - ours.begin();
    const auto b = std::max_element(theirs, theirs + ref.n_vocab) - theirs;
    if (a != b) ++d.argmax_mismatch;
  }
  d.ref_std = std::sqrt(std::max(0.0, sum2 / n - (sum / n) * (sum / n)));
  return d;
}

std::vector<int32_t> greedy(Evaluator& e, const testing::ReferenceLogits& ref, int n_prompt) {
  Sampler s({.temperature = 0.0f});
  std::vector<int32_t> out;
  generate(e, s, std::span<const int32_t>(ref.tokens.data(), static_cast<size_t>(n_prompt)),
           static_cast<int>(ref.tokens.size()) - n_prompt, {}, &out);
  return out;
}

}  // namespace

TEST_CASE("gemma3: the generated file's config is what the reference runs") {
  auto w = ModelWeights::load(testing::test_data_path("tiny_gemma3_f32.gguf"));
  const ModelConfig& c = w->config();
  CHECK(c.arch == "gemma3");
  CHECK(c.head_dim == 48);
  CHECK(c.q_dim() == 192);
  CHECK(c.activation == Activation::GELU);
  CHECK(c.sliding_window == 5);
  CHECK(c.is_local_layer(0));
  CHECK(c.is_local_layer(4));
  CHECK_FALSE(c.is_local_layer(5));
  CHECK(c.is_local_layer(6));
  CHECK(c.embed_scale == doctest::Approx(std::sqrt(96.0)));
  CHECK(c.attn_scale == doctest::Approx(1.0 / std::sqrt(48.0)));
}

TEST_CASE("gemma3: dense engine = numpy reference (F32 and Q8_0 generated files)") {
  for (const char* type : {"f32", "q8_0"}) {
    const auto ref = testing::read_reference_logits(testing::test_data_path(std::string("tiny_gemma3_") + type + ".ref"));
    auto w = ModelWeights::load(testing::test_data_path(std::string("tiny_gemma3_") + type + ".gguf"));
    for (int threads : {1, 2}) {
      for (int batch : {1, 5, 64}) {
        DenseEngine exact(w, {threads, 256, batch, 0, true});
        const Diff e = compare(exact, ref);
        INFO(type << " threads " << threads << " batch " << batch << ": exact max |diff| " << e.max_abs << " ref std " << e.ref_std);
        CHECK(e.max_abs < 1e-3 * std::max(1.0, e.ref_std));
        CHECK(e.argmax_mismatch == 0);
      }
    }
    DenseEngine exact(w, {2, 256, 64, 0, true});
    CHECK(greedy(exact, ref, 8) == std::vector<int32_t>(ref.tokens.begin() + 8, ref.tokens.end()));
    // Quantized activations (the default): a bounded error.
    DenseEngine fast(w, {2, 256, 64, 0, false});
    const Diff q = compare(fast, ref);
    INFO(type << " fast: max |diff| " << q.max_abs << " ref std " << q.ref_std);
    CHECK(q.max_abs < 0.15 * q.ref_std);
  }
  // The test can fail: the same file read as llama (no norms, no window, SiLU) is far off.
  const auto ref = testing::read_reference_logits(testing::test_data_path("tiny_gemma3_f32.ref"));
  DenseEngine other(ModelWeights::load(testing::test_data_path("tiny_gemma3_f32.gguf"), Activation::SiLU), {1, 256, 64, 0, true});
  CHECK(compare(other, ref).max_abs > 1e-2);
}

TEST_CASE("gemma3: actor runtime = numpy reference, hot neurons on the gpu-worker and cold on a team") {
  const auto ref = testing::read_reference_logits(testing::test_data_path("tiny_gemma3_f32.ref"));
  auto w = ModelWeights::load(testing::test_data_path("tiny_gemma3_f32.gguf"));
  for (int batch : {1, 8}) {
    for (double hot : {0.0, 0.5, 1.0}) {
      DeploymentConfig o;
      o.engine = {1, 256, batch, 0, true};
      o.hot_fraction = hot;
      o.teams.assign(1, TeamConfig{0, {}, 2});
      ActorRuntime rt(w, o);
      const Diff d = compare(rt, ref);
      INFO("batch " << batch << " hot " << hot << ": max |diff| " << d.max_abs << " ref std " << d.ref_std);
      CHECK(d.max_abs < 1e-3 * std::max(1.0, d.ref_std));
      CHECK(d.argmax_mismatch == 0);
    }
  }
}

TEST_CASE("gemma3: the real Gemma 3 270M file's greedy tokens = numpy reference") {
  if (!std::filesystem::exists(kGemma3Model) || !std::filesystem::exists(testing::test_data_path("gemma3_greedy.ref"))) {
    ACTINFER_REPORT_SKIPPED("gemma3 model absent (./setup.sh --model gemma3): skipped");
    return;
  }
  const auto ref = testing::read_reference_logits(testing::test_data_path("gemma3_greedy.ref"));
  auto w = ModelWeights::load(kGemma3Model);
  DenseEngine exact(w, {2, 512, 64, 0, true});
  const Diff e = compare(exact, ref);
  INFO("exact: max |diff| " << e.max_abs << " ref std " << e.ref_std);
  CHECK(e.max_abs < 2e-3 * e.ref_std);  // observed 2e-5 against a spread of 4.7
  DenseEngine fresh(w, {2, 512, 64, 0, true});
  CHECK(greedy(fresh, ref, 6) == std::vector<int32_t>(ref.tokens.begin() + 6, ref.tokens.end()));
  // Quantized activations (Q8_0 / Q8_K, as llama.cpp): observed max |diff| 1.28 (0.27 of the spread),
  // later 1.62 (0.343, 1 argmax mismatch) with per-token kernels and 1.66 (0.351, none) with the
  // tiled GEMM of prompt batches: the Q8 rounding noise, not a bias, so the bound leaves room.
  DenseEngine fast(w, {2, 512, 64, 0, false});
  const Diff q = compare(fast, ref);
  INFO("fast: max |diff| " << q.max_abs << " ref std " << q.ref_std << " mismatches " << q.argmax_mismatch);
  CHECK(q.max_abs < 0.4 * q.ref_std);
  CHECK(q.argmax_mismatch <= 1);
}
