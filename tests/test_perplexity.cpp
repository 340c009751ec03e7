// Perplexity against figures worked out by hand: a fake Evaluator whose next-token
// probabilities are fixed (and may depend on the position or on the chunk's first
// token), so the chunking, the scored positions and the BOS rule show in the PPL.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <utility>
#include <vector>

#include "engine/perplexity.h"

using namespace actinfer;

namespace {

// A model over `vocab` tokens: after input token t at cache position pos, it gives
// the successor (t + 1) % vocab the probability p(prefix) (prefix: every token in the
// cache, the current one last), and every other token (1 - p) / (vocab - 1).
class FakeEvaluator final : public Evaluator {
 public:
  using NextProbability = std::function<double(const std::vector<int32_t>& prefix)>;
  FakeEvaluator(int vocab, int ctx, NextProbability p) : ctx_(ctx), p_(std::move(p)) { config_.n_vocab = vocab; }

  const ModelConfig& config() const override { return config_; }
  void eval(std::span<const int32_t> tokens, bool all_logits) override {
    if (tokens.empty()) throw std::invalid_argument("fake: empty eval");
    if (static_cast<int>(cache_.size() + tokens.size()) > ctx_) throw std::invalid_argument("fake: context overflow");
    if (cache_.empty()) sequences.emplace_back();
    rows_.clear();
    for (size_t i = 0; i < tokens.size(); ++i) {
      const int32_t t = tokens[i];
      if (t < 0 || t >= config_.n_vocab) throw std::out_of_range("fake: token outside the vocabulary");
      cache_.push_back(t);
      sequences.back().push_back(t);
      if (all_logits || i + 1 == tokens.size()) rows_.push_back(row(p_(cache_), t));
    }
    ++n_evals;
  }
  std::span<const float> logits(int i) const override {
    if (i < 0) i += static_cast<int>(rows_.size());
    return rows_.at(static_cast<size_t>(i));
  }
  int n_past() const override { return static_cast<int>(cache_.size()); }
  int n_ctx() const override { return ctx_; }
  void rewind(int n) override { cache_.resize(static_cast<size_t>(n)); }

  std::vector<std::vector<int32_t>> sequences;  // tokens fed after each reset to an empty cache
  int n_evals = 0;

 private:
  std::vector<float> row(double p, int32_t t) const {
    const int v = config_.n_vocab;
    std::vector<float> r(static_cast<size_t>(v), static_cast<float>(std::log((1 - p) / (v - 1))));
    r[static_cast<size_t>((t + 1) % v)] = static_cast<float>(std::log(p));
    return r;
  }
  ModelConfig config_;
  int ctx_;
  NextProbability p_;
  std::vector<int32_t> cache_;
  std::vector<std::vector<float>> rows_;
};

// 0, 1, 2, ... (mod vocab): every token is its predecessor's successor.
std::vector<int32_t> counting(int n, int vocab, int from = 0) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) t[static_cast<size_t>(i)] = (from + i) % vocab;
  return t;
}

}  // namespace

TEST_CASE("perplexity: uniform logits over V tokens give PPL = V") {
  const int V = 7;
  FakeEvaluator ev(V, 64, [](const auto&) { return 1.0 / 7; });
  const std::vector<int32_t> tokens = {3, 1, 4, 1, 5, 2, 6, 5, 3, 5, 0, 0, 2, 6, 4, 3, 3, 2, 1, 0};
  const auto r = perplexity(ev, tokens, 8, false, -1);
  CHECK(r.ppl == doctest::Approx(7.0).epsilon(1e-6));
  CHECK(r.nll_mean == doctest::Approx(std::log(7.0)).epsilon(1e-6));
  CHECK(r.n_chunks == 2);  // 20 tokens: two chunks of 8, the last 4 are not scored
  CHECK(r.n_scored == 2 * 3);  // positions 5, 6, 7 of each chunk
  REQUIRE(r.chunk_ppl.size() == 2);
  for (double c : r.chunk_ppl) CHECK(c == doctest::Approx(7.0).epsilon(1e-6));
  CHECK(r.ppl_stderr == doctest::Approx(0.0));  // every token alike: no spread
}

TEST_CASE("perplexity: the right token with probability p gives PPL = 1/p; always wrong gives (V-1)/(1-p)") {
  const int V = 10;
  FakeEvaluator ev(V, 32, [](const auto&) { return 0.25; });
  CHECK(perplexity(ev, counting(40, V), 16, false, -1).ppl == doctest::Approx(4.0).epsilon(1e-6));
  std::vector<int32_t> skipping(40);
  for (int i = 0; i < 40; ++i) skipping[static_cast<size_t>(i)] = (2 * i) % V;  // never the successor
  CHECK(perplexity(ev, skipping, 16, false, -1).ppl == doctest::Approx(9.0 / 0.75).epsilon(1e-6));
}

TEST_CASE("perplexity: exactly positions n_ctx/2+1 .. n_ctx-1 are scored, each from its whole prefix") {
  // The successor's probability depends on the position: 1 / (pos + 2). With n_ctx 8 the
  // logits of positions 4, 5, 6 score tokens 5, 6, 7 (llama.cpp's count: n_ctx - 1 - n_ctx/2).
  const int V = 50;
  FakeEvaluator ev(V, 8, [](const auto& prefix) { return 1.0 / (static_cast<double>(prefix.size()) - 1 + 2); });
  const auto r = perplexity(ev, counting(8 * 3 + 5, V), 8, false, -1);
  const double expected = std::cbrt(6.0 * 7.0 * 8.0);
  CHECK(r.n_chunks == 3);
  CHECK(r.n_scored == 9);
  CHECK(r.ppl == doctest::Approx(expected).epsilon(1e-6));
  for (double c : r.chunk_ppl) CHECK(c == doctest::Approx(expected).epsilon(1e-6));
  // llama.cpp's +/-: NLLs log 6, log 7, log 8, three times each; sample variance over N - 1 = 8.
  const double m = (std::log(6.0) + std::log(7.0) + std::log(8.0)) / 3;
  double ss = 0;
  for (double x : {6.0, 7.0, 8.0}) ss += 3 * (std::log(x) - m) * (std::log(x) - m);
  CHECK(r.ppl_stderr == doctest::Approx(expected * std::sqrt(ss / 9 / 8)).epsilon(1e-6));
  // Odd n_ctx: n_ctx 7 scores the logits of positions 3, 4, 5.
  FakeEvaluator ev7(V, 8, [](const auto& prefix) { return 1.0 / (static_cast<double>(prefix.size()) - 1 + 2); });
  CHECK(perplexity(ev7, counting(7, V), 7, false, -1).ppl == doctest::Approx(std::cbrt(5.0 * 6.0 * 7.0)).epsilon(1e-6));
  // The smallest context, 3, scores one token: the third, from the logits of position 1.
  FakeEvaluator ev3(V, 8, [](const auto& prefix) { return 1.0 / (static_cast<double>(prefix.size()) - 1 + 2); });
  const auto r3 = perplexity(ev3, counting(9, V), 3, false, -1);
  CHECK(r3.n_scored == 3);
  CHECK(r3.ppl == doctest::Approx(3.0).epsilon(1e-6));
}

TEST_CASE("perplexity: chunks are evaluated from an empty cache; BOS replaces the first token only where the model adds it") {
  const int V = 40, BOS = 39;
  // p is 1/2 when the chunk starts with BOS, else 1/4: the BOS rule shows in the PPL.
  auto p = [](const std::vector<int32_t>& prefix) { return prefix.front() == 39 ? 0.5 : 0.25; };
  const auto tokens = counting(4 * 6 + 3, V, 1);  // 1 .. 27, never BOS: 4 chunks of 6 and 3 left over
  const std::vector<int32_t> original = tokens;

  FakeEvaluator plain(V, 6, p);
  std::vector<std::pair<int, int>> calls;
  const auto r = perplexity(plain, tokens, 6, false, BOS, [&](int done, int total) { calls.emplace_back(done, total); });
  CHECK(r.ppl == doctest::Approx(4.0).epsilon(1e-6));
  CHECK(calls == std::vector<std::pair<int, int>>{{1, 4}, {2, 4}, {3, 4}, {4, 4}});
  REQUIRE(plain.sequences.size() == 4);  // one fresh sequence per chunk
  for (size_t c = 0; c < 4; ++c) {
    // Everything but the chunk's last token is fed (that token predicts nothing).
    const std::vector<int32_t> expected(tokens.begin() + static_cast<long>(c * 6), tokens.begin() + static_cast<long>(c * 6 + 5));
    CHECK(plain.sequences[c] == expected);
  }

  FakeEvaluator with_bos(V, 6, p);
  const auto rb = perplexity(with_bos, tokens, 6, true, BOS);
  CHECK(rb.ppl == doctest::Approx(2.0).epsilon(1e-6));
  REQUIRE(with_bos.sequences.size() == 4);
  for (size_t c = 0; c < 4; ++c) {
    std::vector<int32_t> expected(tokens.begin() + static_cast<long>(c * 6), tokens.begin() + static_cast<long>(c * 6 + 5));
    expected[0] = BOS;
    CHECK(with_bos.sequences[c] == expected);
  }
  CHECK(tokens == original);

  // Chunks are independent: a chunk's PPL does not depend on what came before it.
  FakeEvaluator again(V, 6, p);
  const auto tail = perplexity(again, std::span<const int32_t>(tokens).subspan(12), 6, true, BOS);
  REQUIRE(tail.chunk_ppl.size() == 2);
  CHECK(tail.chunk_ppl[0] == doctest::Approx(rb.chunk_ppl[2]).epsilon(1e-12));
  CHECK(tail.chunk_ppl[1] == doctest::Approx(rb.chunk_ppl[3]).epsilon(1e-12));
}

TEST_CASE("perplexity: per-chunk figures and their pooled mean") {
  // p = 1/2 in chunks that start with an even token, 1/8 otherwise: chunk PPLs 2 and 8,
  // overall exp(mean NLL) = sqrt(2 * 8) = 4 (equal token counts per chunk).
  const int V = 16;
  std::vector<int32_t> tokens = counting(20, V, 4);  // chunks of 10 start with 4 and 14
  tokens[10] = 5;  // now the second starts odd (its first token is never scored)
  FakeEvaluator ev(V, 10, [](const auto& prefix) { return prefix.front() % 2 == 0 ? 0.5 : 0.125; });
  const auto m = perplexity(ev, tokens, 10, false, -1);
  REQUIRE(m.chunk_ppl.size() == 2);
  CHECK(m.chunk_ppl[0] == doctest::Approx(2.0).epsilon(1e-6));
  CHECK(m.chunk_ppl[1] == doctest::Approx(8.0).epsilon(1e-6));
  CHECK(m.ppl == doctest::Approx(4.0).epsilon(1e-6));
  CHECK(m.n_scored == 8);
}

TEST_CASE("perplexity: negative log-likelihood is stable for large logits") {
  const std::vector<float> logits = {1000.0f, 0.0f, 1000.0f};
  CHECK(negative_log_likelihood(logits, 0) == doctest::Approx(std::log(2.0)).epsilon(1e-12));
  CHECK(negative_log_likelihood(logits, 1) == doctest::Approx(1000.0 + std::log(2.0)).epsilon(1e-12));
  CHECK_THROWS_AS(negative_log_likelihood(logits, 3), std::out_of_range);
}

TEST_CASE("perplexity: clear errors") {
  FakeEvaluator ev(10, 16, [](const auto&) { return 0.5; });
  const auto tokens = counting(40, 10);
  CHECK_THROWS_WITH_AS(perplexity(ev, tokens, 2, false, -1), doctest::Contains("at least 3 tokens"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(perplexity(ev, tokens, 0, false, -1), doctest::Contains("at least 3 tokens"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(perplexity(ev, tokens, 32, false, -1), doctest::Contains("exceeds the evaluator's context of 16"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(perplexity(ev, std::span<const int32_t>(tokens).first(11), 12, false, -1),
                       doctest::Contains("11 tokens, fewer than one chunk of 12"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(perplexity(ev, std::span<const int32_t>(), 8, false, -1), doctest::Contains("fewer than one chunk"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(perplexity(ev, tokens, 8, true, -1), doctest::Contains("BOS id -1 is not in the vocabulary"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(perplexity(ev, tokens, 8, true, 10), doctest::Contains("BOS id 10"), std::invalid_argument);
  CHECK(ev.n_evals == 0);  // checked before anything is evaluated
  CHECK_NOTHROW(perplexity(ev, tokens, 8, false, -1));
}
