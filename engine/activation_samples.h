// Recorded training pairs of one FFN layer for its neuron predictor: per token the
// normalised FFN input xn[d_model] (kept as F16: a TinyLlama-shape layer costs 4 KiB a
// token instead of 8) and the set of neurons that fired (a bitset of d_ff bits).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace actinfer {

class LayerSamples {
 public:
  LayerSamples(int d_model, int d_ff);

  int d_model() const { return d_model_; }
  int d_ff() const { return d_ff_; }
  int64_t size() const { return n_; }
  size_t memory_bytes() const { return x_.capacity() * sizeof(uint16_t) + bits_.capacity() * sizeof(uint64_t); }
  void reserve(int64_t n);

  // One token: its input and its fired neurons as 0/1 flags fired[d_ff].
  void add(const float* xn, const uint8_t* fired);

  // The token's input rounded to F16, back as float.
  void input(int64_t t, float* out) const;
  bool fired(int64_t t, int neuron) const {
    return (bits_[static_cast<size_t>(t) * words_ + static_cast<size_t>(neuron) / 64] >> (neuron % 64)) & 1u;
  }
  // The token's bitset: bit i of word i / 64 is neuron i.
  const uint64_t* fired_bits(int64_t t) const { return bits_.data() + static_cast<size_t>(t) * words_; }
  // How many neurons fired for tokens [begin, end).
  int64_t count_fired(int64_t begin, int64_t end) const;

 private:
  int d_model_, d_ff_;
  size_t words_;  // uint64 words per token's bitset
  int64_t n_ = 0;
  std::vector<uint16_t> x_;     // [n][d_model] F16
  std::vector<uint64_t> bits_;  // [n][words_]
};

}  // namespace actinfer
