// The decode benchmark's input (engine/decode_input.h): which tokens each step feeds.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "engine/decode_input.h"

using namespace actinfer;

namespace {
// Records every eval; its logits always put the maximum at token (last fed + 100) % 1000,
// so a greedy loop's next token is known in advance and differs from any text token.
class RecordingEvaluator final : public Evaluator {
 public:
  RecordingEvaluator() { cfg_.n_vocab = 1000; }
  const ModelConfig& config() const override { return cfg_; }
  void eval(std::span<const int32_t> tokens, bool) override {
    fed.insert(fed.end(), tokens.begin(), tokens.end());
    n_past_ += static_cast<int>(tokens.size());
    logits_.assign(1000, 0.0f);
    logits_[static_cast<size_t>((tokens.back() + 100) % 1000)] = 5.0f;
  }
  std::span<const float> logits(int) const override { return logits_; }
  int n_past() const override { return n_past_; }
  int n_ctx() const override { return 4096; }
  void rewind(int n) override {
    n_past_ = n;
    rewinds.push_back(n);
  }
  std::vector<int32_t> fed;
  std::vector<int> rewinds;

 private:
  ModelConfig cfg_;
  int n_past_ = 7;  // a cache left over from an earlier run
  std::vector<float> logits_;
};
}  // namespace

TEST_CASE("decode input: greedy decode feeds back each step's argmax, from an empty cache") {
  RecordingEvaluator ev;
  const DecodeInput in = random_decode_input(1000, 4, 9);
  REQUIRE(in.prompt.size() == 4);
  CHECK(in.forced.empty());
  decode_steps(ev, in, 4);
  CHECK(ev.rewinds == std::vector<int>{0});
  const int32_t t0 = in.prompt[0];
  CHECK(ev.fed == std::vector<int32_t>{t0, (t0 + 100) % 1000, (t0 + 200) % 1000, (t0 + 300) % 1000});
  CHECK(ev.n_past() == 4);
}

TEST_CASE("decode input: random prompts are seeded, within the vocabulary") {
  const DecodeInput a = random_decode_input(50, 200, 3), b = random_decode_input(50, 200, 3), c = random_decode_input(50, 200, 4);
  CHECK(a.prompt == b.prompt);
  CHECK(a.prompt != c.prompt);
  for (int32_t t : a.prompt) CHECK((t >= 0 && t < 50));
  CHECK_THROWS_AS(random_decode_input(0, 4, 1), std::invalid_argument);
}

TEST_CASE("decode input: a text's decode is teacher-forced, whatever the model picks") {
  const std::vector<int32_t> text = {1, 11, 12, 13, 14, 15, 16};
  const DecodeInput in = text_decode_input(text, 3, 5, "t.txt");
  CHECK(in.prompt == std::vector<int32_t>{1, 11, 12});
  CHECK(in.forced == std::vector<int32_t>{1, 11, 12, 13, 14});
  RecordingEvaluator ev;
  decode_steps(ev, in, 5);
  CHECK(ev.fed == std::vector<int32_t>{1, 11, 12, 13, 14});
  CHECK_THROWS_AS(decode_steps(ev, in, 6), std::invalid_argument);  // more steps than forced tokens
}

TEST_CASE("decode input: a text shorter than the runs need is refused by name") {
  const std::vector<int32_t> text = {1, 2, 3};
  CHECK_THROWS_WITH_AS(text_decode_input(text, 2, 4, "short.txt"), "short.txt: 3 tokens, fewer than the 4 the prompt and decode runs need",
                       std::invalid_argument);
  CHECK_NOTHROW(text_decode_input(text, 3, 3, "short.txt"));
}
