// `actinfer run`: generate text from a prompt, streaming tokens as they come.
// The prompt: -p TEXT, -f FILE, `-p -` / `-f -` (standard input), or piped
// standard input when neither is given; else a default prompt. Ctrl-C stops the
// generation cleanly: the stats are printed and the trace written, and the exit
// code is 130.
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
#include "tools/cli_support.h"
#include "tools/commands.h"
#include "tools/interrupt.h"
#include "tools/model_options.h"
#include "tools/runtime_choice.h"
#include "tools/sampling_options.h"
#include "tools/text_input.h"

namespace actinfer::tools {
namespace {

constexpr const char* kDefaultPrompt = "The capital of France is";

struct RunOptions {
  ModelOptions model;
  RuntimeChoice runtime;
  std::string prompt;       // empty: from -f, piped stdin or the default
  std::string prompt_file;  // -f; "-" is standard input
  std::string system;
  int n_predict = 64;
  bool chat = false;
  bool show_prompt = true;
  SamplerParams sampling;
};

std::string prompt_text(const RunOptions& o) {
  if (!o.prompt.empty() && !o.prompt_file.empty()) throw UsageError("give the prompt with -p or -f, not both");
  if (o.prompt == "-" || o.prompt_file == "-") return read_stdin_text();
  if (!o.prompt_file.empty()) return read_text_file(o.prompt_file, "the prompt file given with -f");
  if (!o.prompt.empty()) return o.prompt;
  if (stdin_is_piped()) return read_stdin_text();
  return kDefaultPrompt;
}

void run(const RunOptions& o) {
  const std::string user_text = prompt_text(o);  // before loading: a missing file fails fast
  const DeploymentConfig config = o.runtime.load();
  auto weights = o.runtime.load_weights(config, o.model);
  const Tokenizer tokenizer(tokenizer_data_from_gguf(weights->file()));
  std::string text = user_text;
  if (o.chat) {
    std::vector<ChatMessage> messages;
    if (!o.system.empty()) messages.push_back({"system", o.system});
    messages.push_back({"user", user_text});
    text = apply_chat_template(tokenizer.data().chat_template, messages, true);
  }
  const auto prompt = tokenizer.encode(text, true, o.chat);
  if (prompt.empty()) throw UsageError("the prompt encodes to no tokens: give a non-empty prompt with -p");

  auto evaluator = o.runtime.make(config, weights, o.model);
  Evaluator& engine = *evaluator;
  if (static_cast<int>(prompt.size()) >= engine.n_ctx())
    throw std::invalid_argument("the prompt has " + std::to_string(prompt.size()) + " tokens, more than the context of " +
                                std::to_string(engine.n_ctx()) + " allows: " +
                                context_advice(static_cast<int>(prompt.size()) + 1, engine.n_ctx(), weights->config().n_ctx_train));
  Sampler sampler(o.sampling);

  if (o.show_prompt) std::fputs(o.chat ? text.c_str() : user_text.c_str(), stdout);
  std::fflush(stdout);
  Utf8StreamDecoder utf8;
  GenerationCallbacks cb;
  cb.is_end_of_generation = [&](int32_t t) { return tokenizer.is_end_of_generation(t); };
  cb.on_token = [&](int32_t t) {
    const std::string s = utf8.push(tokenizer.token_piece(t));
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
    return !interrupt::requested();
  };
  GenerationStats st = generate(engine, sampler, prompt, o.n_predict, cb);
  if (interrupt::requested()) st.stop_reason = "interrupted";
  const std::string tail = utf8.flush();
  std::fwrite(tail.data(), 1, tail.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  finish_trace(engine, config.trace);
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
                 std::string(to_string(rt->predictor_mode())).c_str(), 100.0 * ps.fraction_computed(),
                 ps.token_layers ? static_cast<double>(ps.predict_ns) / 1e3 * rt->config().n_layers / static_cast<double>(ps.token_layers) : 0.0);
    if (ps.truth_checked) std::fprintf(stderr, ", recall %.4f", ps.recall());
    std::fputc('\n', stderr);
  }
}

}  // namespace

void register_run(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "generate text from a prompt (for a conversation: actinfer chat)");
  o->model.add_to(*cmd);
  o->runtime.add_to(*cmd, true);
  cmd->add_option("-p,--prompt", o->prompt,
                  std::string("prompt text; '-' reads standard input (default: piped standard input, else \"") + kDefaultPrompt + "\")");
  cmd->add_option("-f,--file", o->prompt_file, "read the prompt from this file ('-': standard input)");
  cmd->add_option("-n,--n-predict", o->n_predict, "tokens to generate")->check(at_least(0))->capture_default_str();
  cmd->add_flag("--chat", o->chat, "wrap the prompt in the model's chat template as a user message");
  cmd->add_option("--system", o->system, "system message for --chat");
  cmd->add_flag("!--no-display-prompt,!--no-show-prompt", o->show_prompt, "print only the generated text, not the prompt");
  add_sampling_options(*cmd, o->sampling);
  cmd->callback([o] { run(*o); });
}

}  // namespace actinfer::tools
