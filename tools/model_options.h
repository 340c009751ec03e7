// Options every model-running subcommand shares (-m, -t, --ctx, --ffn-activation, -q),
// and loading the model and its tokenizer from them.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "config/deployment_config.h"
#include "engine/dense_engine.h"
#include "model/model_weights.h"
#include "model/tokenizer.h"

namespace CLI { class App; class Option; }

namespace actinfer::tools {

struct ModelOptions {
  std::string model_path;
  int threads = 0;
  int n_ctx = 2048;
  int batch = 64;  // quantized weights' prompt step; see prompt_batch
  std::string ffn_activation;  // empty: from the model
  bool quiet = false;          // no progress lines
  std::string cache_type = "f32";  // KV cache element type: f32 or f16
  bool no_mmap = false;            // read the weights into huge pages instead of mapping the file
  CLI::Option* ctx_option = nullptr;  // set by add_to: was --ctx given?
  CLI::Option* batch_option = nullptr;  // set by add_to: was -b given?

  // with_threads false: the command declares its own -t (bench sweeps a list).
  void add_to(CLI::App& cmd, bool with_threads = true);
  // Loads the model; refuses an explicit --ctx above the model's trained context
  // (fit_context) rather than clamping it silently. Commands with a deployment config
  // check the ctx again where its sources meet (RuntimeChoice::make), with the same rule.
  // `memory`: how to hold the file (commands with a deployment config: its mmap key, see
  // RuntimeChoice::load_weights); unset, --no-mmap decides.
  std::shared_ptr<const ModelWeights> load_weights(std::optional<FileMemory> memory = std::nullopt) const;
  // Tokens per forward step of a prompt: -b when given; else 512 for float weights (F32, F16,
  // BF16: the float GEMM converts and repacks each weight panel once per step, so longer steps
  // pay it less often: pp512 +4-20% on a Zen 4 host, as llama.cpp's ubatch of 512) and `batch`
  // (64) for quantized ones, whose tiled GEMM ran 6-12% slower at 512 (tokens re-read from L2).
  int prompt_batch(const ModelWeights& w) const;
  // Engine options from the flags; with the model, its prompt_batch as the step size.
  EngineOptions engine_options(const ModelWeights* w = nullptr) const;
};

// Prompt tokens per forward step where the model's weights are float (F32, F16, BF16).
inline constexpr int kFloatPromptBatch = 512;

// The default model fetched by setup.sh; ACTINFER_MODEL overrides it.
std::string default_model_path();

// The one rule for a context length against the model's trained one: a value someone gave
// (a flag, a `--set` override, a config file's line: `origin`) above `n_ctx_train` is refused
// with a UsageError naming both numbers, where the value came from and what would help (no
// RoPE scaling yet, so no silent clamp); a built-in default above it becomes n_ctx_train, as
// nobody asked for more. Returns the context to use.
int fit_context(int n_ctx, const SettingOrigin& origin, int n_ctx_train, const std::string& model_path);

// What helps when `n_tokens` do not fit the context `n_ctx` of a model trained on `n_ctx_train`:
// a larger --ctx while there is room, else a shorter input.
std::string context_advice(int n_tokens, int n_ctx, int n_ctx_train);

}  // namespace actinfer::tools
