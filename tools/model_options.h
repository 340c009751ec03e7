// Options every model-running subcommand shares (-m, -t, --ctx, --ffn-activation),
// and loading the model and its tokenizer from them.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "engine/dense_engine.h"
#include "model/model_weights.h"
#include "model/tokenizer.h"

namespace CLI { class App; }

namespace actinfer::tools {

struct ModelOptions {
  std::string model_path;
  int threads = 0;
  int n_ctx = 2048;
  int batch = 64;
  std::string ffn_activation;  // empty: from the model

  void add_to(CLI::App& cmd);
  std::shared_ptr<const ModelWeights> load_weights() const;
  EngineOptions engine_options() const { return {threads, n_ctx, batch}; }
};

// The default model fetched by setup.sh; ACTINFER_MODEL overrides it.
std::string default_model_path();

}  // namespace actinfer::tools
