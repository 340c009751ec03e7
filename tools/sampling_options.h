// The sampling flags `run` and `chat` share (--temp, --top-k, ..., --seed).
#pragma once
#include "engine/sampler.h"

namespace CLI { class App; }

namespace actinfer::tools {
void add_sampling_options(CLI::App& cmd, SamplerParams& params);
}
