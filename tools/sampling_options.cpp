#include "tools/sampling_options.h"

#include <CLI/CLI.hpp>

namespace actinfer::tools {

void add_sampling_options(CLI::App& cmd, SamplerParams& s) {
  cmd.add_option("--temp", s.temperature, "temperature (0: greedy)")->capture_default_str();
  cmd.add_option("--top-k", s.top_k, "keep the k most likely tokens (0: off)")->capture_default_str();
  cmd.add_option("--top-p", s.top_p, "keep the smallest set with this probability mass (1: off)")->capture_default_str();
  cmd.add_option("--min-p", s.min_p, "drop tokens below min-p times the top probability (0: off)")->capture_default_str();
  cmd.add_option("--repeat-penalty", s.repeat_penalty, "penalise recently seen tokens (1: off)")->capture_default_str();
  cmd.add_option("--repeat-last-n", s.repeat_last_n, "how many recent tokens the penalty sees")->capture_default_str();
  cmd.add_option("-s,--seed", s.seed, "random seed")->capture_default_str();
}

}  // namespace actinfer::tools
