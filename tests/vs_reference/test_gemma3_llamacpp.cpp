// The real Gemma 3 270M file's greedy tokens against llama.cpp's, recorded in
// tests/data/gemma3_llamacpp_greedy.txt (llama-simple, 32 tokens for each of 3 prompts).
// Engine: the dense engine with float activations, and with quantized ones (the kernels `actinfer
// run` uses, llama.cpp's scheme: Q8_K / Q8_0 activations). Skipped where setup.sh did not fetch
// the model.
//
// Two engines with different summation orders and activation rounding can only agree token for
// token where the top two logits are apart: the continuations of this 270M model include top-2
// gaps of 0.01-0.06 logits (the numpy float reference picks differently from both engines at
// some of them). So every position is teacher-forced with llama.cpp's tokens and checked: its
// token is our argmax, or a near-tie (within kNearTie of our top logit with float activations,
// three times that with quantized ones); and the free-running greedy continuation equals llama.cpp's
// up to the first near-tie of each prompt.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/dense_engine.h"
#include "engine/generator.h"
#include "model/tokenizer.h"
#include "tests/skip_report.h"

using namespace actinfer;

namespace {

const std::string kModel = ACTINFER_SOURCE_DIR "/models/gemma-3-270m-q4_k_m.gguf";
const std::string kRecorded = ACTINFER_SOURCE_DIR "/tests/data/gemma3_llamacpp_greedy.txt";
// A top-2 gap below this is a near-tie: activation rounding (Q8_K) moves logits by up to ~0.1 here.
constexpr float kNearTie = 0.1f;

struct Recorded {
  std::string prompt;
  std::vector<int32_t> ids, greedy;
};

std::vector<int32_t> numbers(const std::string& rest) {
  std::istringstream in(rest);
  std::vector<int32_t> v;
  for (int32_t x; in >> x;) v.push_back(x);
  return v;
}

std::vector<Recorded> read_recorded() {
  std::ifstream in(kRecorded);
  REQUIRE(in);
  std::vector<Recorded> r;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.find(' ');
    const std::string key = line.substr(0, sp), rest = sp == std::string::npos ? "" : line.substr(sp + 1);
    if (key == "prompt") r.push_back({rest, {}, {}});
    else if (key == "ids") r.back().ids = numbers(rest);
    else if (key == "greedy") r.back().greedy = numbers(rest);
  }
  return r;
}

}  // namespace

TEST_CASE("gemma3: greedy tokens of the real Gemma 3 270M file = llama.cpp's, but at near-ties") {
  if (!std::filesystem::exists(kModel)) {
    ACTINFER_REPORT_SKIPPED("gemma3 model absent (./setup.sh --model gemma3): skipped");
    return;
  }
  const std::vector<Recorded> recorded = read_recorded();
  REQUIRE(recorded.size() == 3);
  auto w = ModelWeights::load(kModel);
  const Tokenizer tokenizer(tokenizer_data_from_gguf(w->file()));
  // Float activations (exact): observed 94 of 96 argmax tokens equal, the other two 0.01-0.06
  // below our top. Quantized activations (`run`'s kernels): 92-93 of 96, the others up to 0.21 below.
  for (const bool exact : {true, false}) {
    const float near_tie = exact ? kNearTie : 3 * kNearTie;  // quantized: observed up to 0.205 (main's quantized GEMM)
    const std::string kind = exact ? "float" : "quantized";
    int agreeing = 0, total = 0;
    for (const Recorded& r : recorded) {
      INFO(kind << " activations, prompt '" << r.prompt << "'");
      REQUIRE(r.greedy.size() == 32);
      CHECK(tokenizer.encode(r.prompt, true, false) == r.ids);

      // Teacher-forced: every position's prediction given llama.cpp's prefix.
      std::vector<int32_t> seq = r.ids;
      seq.insert(seq.end(), r.greedy.begin(), r.greedy.end() - 1);
      DenseEngine forced(w, {2, 512, 64, 0, exact});
      forced.eval(seq, true);
      size_t first_near_tie = r.greedy.size();
      for (size_t i = 0; i < r.greedy.size(); ++i) {
        const auto logits = forced.logits(static_cast<int>(r.ids.size() + i - 1));
        const auto top = std::max_element(logits.begin(), logits.end());
        const auto ours = static_cast<int32_t>(top - logits.begin());
        float second = -1e30f;
        for (size_t v = 0; v < logits.size(); ++v)
          if (static_cast<int32_t>(v) != ours) second = std::max(second, logits[v]);
        if (*top - second < near_tie) first_near_tie = std::min(first_near_tie, i);
        const float gap = *top - logits[static_cast<size_t>(r.greedy[i])];
        INFO("step " << i << ": llama.cpp " << r.greedy[i] << ", ours " << ours << ", its logit " << gap << " below our top");
        CHECK(gap < near_tie);
        agreeing += ours == r.greedy[i];
        ++total;
      }
      if (exact) continue;

      // Free-running greedy, as `actinfer run --temp 0`: llama.cpp's tokens up to the first near-tie.
      DenseEngine fresh(w, {2, 512, 64, 0, false});
      Sampler s({.temperature = 0.0f});
      std::vector<int32_t> out;
      generate(fresh, s, r.ids, static_cast<int>(r.greedy.size()), {}, &out);
      REQUIRE(out.size() == r.greedy.size());
      const auto diverge = std::mismatch(out.begin(), out.end(), r.greedy.begin()).first - out.begin();
      MESSAGE("'" << r.prompt << "': free-running greedy equals llama.cpp's for " << diverge << " of 32 tokens; first near-tie at step "
                  << first_near_tie);
      CHECK(static_cast<size_t>(diverge) >= first_near_tie);
    }
    MESSAGE(kind << " activations, teacher-forced: " << agreeing << " of " << total
                                            << " argmax tokens equal llama.cpp's");
    CHECK(agreeing >= total - 4);
  }
}
