// An activation profile (engine/profiler.h) as a small GGUF side file, in the
// style of model/placement.h: metadata actinfer.profile.{n_tokens, block_count,
// feed_forward_length, activation, target_sparsity, allocation ("uniform" |
// "sensitivity"; absent: uniform), layer_sparsity (F32 array, each layer's
// calibrated level; absent in older files and for ReLU)}, and per layer the
// tensors blk.N.act_count F32[d_ff] (tokens each neuron fired for; exact up to
// 2^24 tokens) and blk.N.act_threshold F32[1] (what the threshold predictor reads).
#pragma once
#include <filesystem>

#include "engine/profiler.h"
#include "model/model_config.h"

namespace actinfer {

// Throws std::runtime_error naming the file and the problem (not a profile,
// another model's shape or activation, missing or malformed tensor).
ActivationProfile load_profile(const std::filesystem::path& path, const ModelConfig& model);
void write_profile(const std::filesystem::path& path, const ModelConfig& model, const ActivationProfile& profile);

}  // namespace actinfer
