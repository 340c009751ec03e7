// `actinfer run`: generate text from a prompt, streaming tokens as they come.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "actors/actor_runtime.h"
#include "engine/dense_engine.h"
#include "engine/generator.h"
#include "engine/sampler.h"
#include "model/chat_template.h"
#include "model/tokenizer.h"
#include "tools/commands.h"
#include "tools/model_options.h"
#include "tools/runtime_choice.h"

namespace actinfer::tools {
namespace {

struct RunOptions {
  ModelOptions model;
  RuntimeChoice runtime;
  std::string prompt = "The capital of France is";
  std::string system;
  int n_predict = 64;
  bool chat = false;
  bool show_prompt = true;
  SamplerParams sampling;
};

void sampling_options(CLI::App& cmd, SamplerParams& s) {
  cmd.add_option("--temp", s.temperature, "temperature (0: greedy)")->capture_default_str();
  cmd.add_option("--top-k", s.top_k, "keep the k most likely tokens (0: off)")->capture_default_str();
  cmd.add_option("--top-p", s.top_p, "keep the smallest set with this probability mass (1: off)")->capture_default_str();
  cmd.add_option("--min-p", s.min_p, "drop tokens below min-p times the top probability (0: off)")->capture_default_str();
  cmd.add_option("--repeat-penalty", s.repeat_penalty, "penalise recently seen tokens (1: off)")->capture_default_str();
  cmd.add_option("--repeat-last-n", s.repeat_last_n, "how many recent tokens the penalty sees")->capture_default_str();
  cmd.add_option("-s,--seed", s.seed, "random seed")->capture_default_str();
}

void run(const RunOptions& o) {
  auto weights = o.model.load_weights();
  const Tokenizer tokenizer(tokenizer_data_from_gguf(weights->file()));
  std::string text = o.prompt;
  if (o.chat) {
    std::vector<ChatMessage> messages;
    if (!o.system.empty()) messages.push_back({"system", o.system});
    messages.push_back({"user", o.prompt});
    text = apply_chat_template(tokenizer.data().chat_template, messages, true);
  }
  const auto prompt = tokenizer.encode(text, true, o.chat);
  if (prompt.empty()) throw std::invalid_argument("the prompt encodes to no tokens: give a non-empty prompt with -p");

  auto evaluator = o.runtime.make(weights, o.model);
  Evaluator& engine = *evaluator;
  if (static_cast<int>(prompt.size()) >= engine.n_ctx())
    throw std::invalid_argument("the prompt has " + std::to_string(prompt.size()) + " tokens, more than the context of " +
                                std::to_string(engine.n_ctx()) + " allows (raise --ctx)");
  Sampler sampler(o.sampling);

  if (o.show_prompt) std::fputs(o.chat ? text.c_str() : o.prompt.c_str(), stdout);
  std::fflush(stdout);
  Utf8StreamDecoder utf8;
  GenerationCallbacks cb;
  cb.is_end_of_generation = [&](int32_t t) { return tokenizer.is_end_of_generation(t); };
  cb.on_token = [&](int32_t t) {
    const std::string s = utf8.push(tokenizer.token_piece(t));
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
    return true;
  };
  const GenerationStats st = generate(engine, sampler, prompt, o.n_predict, cb);
  const std::string tail = utf8.flush();
  std::fwrite(tail.data(), 1, tail.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  finish_trace(engine, o.runtime.load().trace);
  std::fprintf(stderr,
               "\n[actinfer] model %s | %s runtime | stop: %s\n"
               "[actinfer] prompt: %d tokens in %.3f s, %.1f tokens/s\n"
               "[actinfer] generation: %d tokens, %d decoded in %.3f s, %.1f tokens/s\n",
               weights->config().name.c_str(), dynamic_cast<DenseEngine*>(&engine) ? "dense" : "actor", st.stop_reason.c_str(), st.n_prompt,
               st.prompt_seconds, st.prompt_tokens_per_second(), st.n_generated, st.n_decoded, st.decode_seconds,
               st.decode_tokens_per_second());
  if (auto* rt = dynamic_cast<ActorRuntime*>(&engine); rt && rt->sparse()) {
    const auto ps = rt->predictor_stats();
    std::fprintf(stderr, "[actinfer] sparse FFN: predictor %s, %.2f%% of neurons computed per token, %.1f us predicting per token",
                 rt->predictor_mode().c_str(), 100.0 * ps.fraction_computed(),
                 ps.token_layers ? static_cast<double>(ps.predict_ns) / 1e3 * rt->config().n_layers / static_cast<double>(ps.token_layers) : 0.0);
    if (ps.truth_checked) std::fprintf(stderr, ", recall %.4f", ps.recall());
    std::fputc('\n', stderr);
  }
}

}  // namespace

void register_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "generate text from a prompt");
  o->model.add_to(*cmd);
  o->runtime.add_to(*cmd, true);
  cmd->add_option("-p,--prompt", o->prompt, "prompt text")->capture_default_str();
  cmd->add_option("-n,--n-predict", o->n_predict, "tokens to generate")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_flag("--chat", o->chat, "wrap the prompt in the model's chat template as a user message");
  cmd->add_option("--system", o->system, "system message for --chat");
  cmd->add_flag("!--no-show-prompt", o->show_prompt, "print only the generated text");
  sampling_options(*cmd, o->sampling);
  cmd->callback([o] { run(*o); });
}

}  // namespace actinfer::tools
