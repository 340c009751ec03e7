// Reads the logits file that tests/reference/llama_ref.py (numpy) writes.
#pragma once
#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace actinfer::testing {

struct ReferenceLogits {
  std::vector<int32_t> tokens;  // prompt, then the reference's greedy tokens
  int n_vocab = 0;
  std::vector<float> logits;  // [position][n_vocab]; row p predicts token p+1
  const float* row(size_t p) const { return logits.data() + p * static_cast<size_t>(n_vocab); }
};

inline ReferenceLogits read_reference_logits(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open reference logits " + path + " (the reference_* ctest fixtures write it)");
  char magic[4];
  uint32_t n_pos = 0, n_vocab = 0;
  in.read(magic, 4).read(reinterpret_cast<char*>(&n_pos), 4).read(reinterpret_cast<char*>(&n_vocab), 4);
  if (!in || std::memcmp(magic, "AIRF", 4) != 0) throw std::runtime_error(path + ": not a reference logits file");
  ReferenceLogits r;
  r.n_vocab = static_cast<int>(n_vocab);
  r.tokens.resize(n_pos);
  r.logits.resize(static_cast<size_t>(n_pos) * n_vocab);
  in.read(reinterpret_cast<char*>(r.tokens.data()), static_cast<std::streamsize>(n_pos * 4));
  in.read(reinterpret_cast<char*>(r.logits.data()), static_cast<std::streamsize>(r.logits.size() * 4));
  if (!in) throw std::runtime_error(path + ": truncated reference logits file");
  return r;
}

}  // namespace actinfer::testing
