#include "tools/model_options.h"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace actinfer::tools {

std::string default_model_path() {
  if (const char* env = std::getenv("ACTINFER_MODEL"); env && *env) return env;
  return "models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

void ModelOptions::add_to(CLI::App& cmd) {
  model_path = default_model_path();
  cmd.add_option("-m,--model", model_path, "GGUF model file")->capture_default_str();
  cmd.add_option("-t,--threads", threads, "compute threads (0: all cores)")->check(CLI::NonNegativeNumber);
  cmd.add_option("-c,--ctx", n_ctx, "context length (KV cache size)")->check(CLI::PositiveNumber)->capture_default_str();
  cmd.add_option("-b,--batch", batch, "tokens per forward step of a prompt")->check(CLI::PositiveNumber)->capture_default_str();
  cmd.add_option("--ffn-activation", ffn_activation, "override the FFN activation: silu, relu or gelu");
}

std::shared_ptr<const ModelWeights> ModelOptions::load_weights() const {
  std::optional<Activation> act;
  if (!ffn_activation.empty()) {
    act = parse_activation(ffn_activation);
    if (!act) throw std::invalid_argument("--ffn-activation '" + ffn_activation + "' is not silu, relu or gelu");
  }
  if (!std::filesystem::exists(model_path))
    throw std::runtime_error("model file '" + model_path + "' not found (run ./setup.sh to fetch the default model, or pass -m)");
  return ModelWeights::load(model_path, act);
}

}  // namespace actinfer::tools
