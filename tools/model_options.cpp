#include "tools/model_options.h"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "kernels/gemm_float.h"
#include "tools/cli_support.h"

namespace actinfer::tools {

std::string default_model_path() {
  if (const char* env = std::getenv("ACTINFER_MODEL"); env && *env) return env;
  return "models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

void ModelOptions::add_to(CLI::App& cmd, bool with_threads) {
  model_path = default_model_path();
  cmd.add_option("-m,--model", model_path, "GGUF model file")->capture_default_str();
  if (with_threads) cmd.add_option("-t,--threads", threads, "compute threads (0: all cores)")->check(at_least(0));
  ctx_option = cmd.add_option("-c,--ctx", n_ctx, "context length (KV cache size; at most the model's trained context) (actinfer.ctx)")
                   ->check(at_least(1))
                   ->capture_default_str();
  batch_option = cmd.add_option("-b,--batch", batch,
                                "tokens per forward step of a prompt (default: " + std::to_string(kFloatPromptBatch) +
                                    " for float weights, F32/F16/BF16; " + std::to_string(batch) + " for quantized ones)")
                     ->check(at_least(1));
  cmd.add_option("--ffn-activation", ffn_activation, "override the FFN activation: silu, relu or gelu");
  cmd.add_flag("-q,--quiet", quiet, "no progress lines");
  cmd.add_flag("--no-mmap", no_mmap,
               "read the model into memory in transparent huge pages instead of mapping the file (as llama.cpp's --no-mmap): "
               "fewer TLB misses in the prompt's matmuls; needs the file's size in free memory and a full read at start (actinfer.mmap = false)");
  cmd.add_option("--cache-type", cache_type, "KV cache element type: f16 (the default: half the memory), or f32 (actinfer.cache-type)")
      ->check(CLI::IsMember({"f32", "f16"}))
      ->capture_default_str();
}

std::shared_ptr<const ModelWeights> ModelOptions::load_weights(std::optional<FileMemory> memory) const {
  std::optional<Activation> act;
  if (!ffn_activation.empty()) {
    act = parse_activation(ffn_activation);
    if (!act) throw UsageError("--ffn-activation '" + ffn_activation + "' is not silu, relu or gelu");
  }
  if (!std::filesystem::exists(model_path))
    throw std::runtime_error("model file '" + model_path + "' not found (run ./setup.sh to fetch the default model, or pass -m)");
  if (!memory) memory = no_mmap ? FileMemory::huge_pages : FileMemory::mapped;
  auto weights = ModelWeights::load(model_path, act, *memory);
  if (ctx_option && ctx_option->count() > 0)
    fit_context(n_ctx, {SettingOrigin::Kind::flag, "--ctx " + std::to_string(n_ctx)}, weights->config().n_ctx_train, model_path);
  return weights;
}

int ModelOptions::prompt_batch(const ModelWeights& w) const {
  if ((batch_option && batch_option->count() > 0) || w.layers().empty()) return batch;
  return has_float_gemm(w.layers().front().up.type) ? kFloatPromptBatch : batch;
}

EngineOptions ModelOptions::engine_options(const ModelWeights* w) const {
  EngineOptions e;
  e.n_threads = threads;
  e.n_ctx = n_ctx;
  e.max_batch = w ? prompt_batch(*w) : batch;
  e.cache_type = parse_kv_cache_type(cache_type).value_or(KvCacheType::F32);
  return e;
}

int fit_context(int n_ctx, const SettingOrigin& origin, int n_ctx_train, const std::string& model_path) {
  if (n_ctx <= n_ctx_train) return n_ctx;
  const std::string trained = std::to_string(n_ctx_train);
  std::string what, help;
  switch (origin.kind) {
    case SettingOrigin::Kind::built_in:
      return n_ctx_train;
    case SettingOrigin::Kind::flag:
      what = "--ctx " + std::to_string(n_ctx);
      help = "give --ctx " + trained + " or less";
      break;
    case SettingOrigin::Kind::override:
      what = "actinfer.ctx = " + std::to_string(n_ctx) + " (from " + origin.where + ")";
      help = "give --set actinfer.ctx=" + trained + " or less, or --ctx " + trained + " (a flag wins over --set)";
      break;
    case SettingOrigin::Kind::file:
      what = "actinfer.ctx = " + std::to_string(n_ctx) + " (from the config file, " + origin.where + ")";
      help = "set ctx = " + trained + " or less there, or give --ctx " + trained + " (a flag wins over the file)";
      break;
  }
  throw UsageError(what + " exceeds the " + trained + " tokens " + model_path + " was trained on (no RoPE scaling yet): " + help);
}

std::string context_advice(int n_tokens, int n_ctx, int n_ctx_train) {
  if (n_ctx < n_ctx_train && n_tokens < n_ctx_train)
    return "raise --ctx (up to " + std::to_string(n_ctx_train) + ", the model's trained context)";
  return "shorten the input: the model was trained on " + std::to_string(n_ctx_train) + " tokens and no larger --ctx is possible";
}

}  // namespace actinfer::tools
