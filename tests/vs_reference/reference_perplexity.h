// Reads the text file that tests/reference/perplexity_ref.py (numpy) writes.
#pragma once
#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace actinfer::testing {

struct ReferencePerplexity {
  int ctx = 0;
  int32_t bos = -1;
  std::vector<int32_t> tokens;
  double ppl = 0;
  double nll_mean = 0;
  double kl_mean = -1;  // with --ffn-thresholds: mean KL(dense || thresholded); -1 when absent
  int64_t n_scored = 0;
  std::vector<double> chunk_ppl;
};

inline ReferencePerplexity read_reference_perplexity(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path + " (the fixture_reference_* ctest fixtures write it)");
  ReferencePerplexity r;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string key;
    s >> key;
    if (key == "ctx") s >> r.ctx;
    else if (key == "bos") s >> r.bos;
    else if (key == "ppl") s >> r.ppl;
    else if (key == "nll_mean") s >> r.nll_mean;
    else if (key == "kl_mean") s >> r.kl_mean;
    else if (key == "n_scored") s >> r.n_scored;
    else if (key == "tokens") for (int32_t t; s >> t;) r.tokens.push_back(t);
    else if (key == "chunk_ppl") for (double p; s >> p;) r.chunk_ppl.push_back(p);
  }
  if (r.ctx <= 0 || r.tokens.empty() || !(r.ppl > 0)) throw std::runtime_error(path + ": incomplete reference perplexity file");
  return r;
}

}  // namespace actinfer::testing
