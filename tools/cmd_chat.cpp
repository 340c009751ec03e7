// `actinfer chat`: a conversation through the model's chat template. The KV
// cache is kept between turns: each turn renders the whole conversation, and
// only the tokens after the longest prefix already in the cache are prefilled
// (the new user turn, plus any tail where re-tokenizing the last reply differs
// from the tokens generated). Commands: /reset, /stats, /exit; Ctrl-C stops the
// current reply, Ctrl-D (end of input) exits.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/generator.h"
#include "engine/sampler.h"
#include "model/chat_template.h"
#include "model/tokenizer.h"
#include "tools/cli_support.h"
#include "tools/commands.h"
#include "tools/interrupt.h"
#include "tools/line_reader.h"
#include "tools/model_options.h"
#include "tools/runtime_choice.h"
#include "tools/sampling_options.h"

namespace actinfer::tools {
namespace {

struct ChatOptions {
  ModelOptions model;
  RuntimeChoice runtime;
  std::string system;
  int n_predict = 512;  // per reply
  SamplerParams sampling;
};

struct TurnStats {
  int reused = 0;     // tokens of the rendered conversation already in the cache
  int prefilled = 0;  // tokens evaluated as the turn's prompt
  GenerationStats generation;
};

class ChatSession {
 public:
  ChatSession(const ChatOptions& o, const Tokenizer& tokenizer, Evaluator& ev)
      : o_(o), tokenizer_(tokenizer), ev_(ev), sampler_(o.sampling) {
    reset();
  }

  void reset() {
    messages_.clear();
    if (!o_.system.empty()) messages_.push_back({"system", o_.system});
    cached_.clear();
    ev_.rewind(0);
  }

  // One user turn: the reply is streamed to stdout.
  void turn(const std::string& user_text) {
    messages_.push_back({"user", user_text});
    const std::string text = apply_chat_template(tokenizer_.data().chat_template, messages_, true);
    const std::vector<int32_t> tokens = tokenizer_.encode(text, true, true);
    const int n_ctx = ev_.n_ctx();
    if (static_cast<int>(tokens.size()) >= n_ctx) {
      messages_.pop_back();
      std::fprintf(stderr, "[actinfer] the conversation would be %zu tokens, the context holds %d: /reset to start over%s\n", tokens.size(),
                   n_ctx, n_ctx < ev_.config().n_ctx_train ? ", or restart with a larger --ctx" : "");
      return;
    }
    // The longest prefix already in the cache; at least one token is evaluated for the logits.
    size_t common = 0;
    while (common < cached_.size() && common < tokens.size() && cached_[common] == tokens[common]) ++common;
    if (common == tokens.size()) --common;
    ev_.rewind(static_cast<int>(common));
    cached_.assign(tokens.begin(), tokens.end());

    Utf8StreamDecoder utf8;
    std::string reply;
    GenerationCallbacks cb;
    cb.is_end_of_generation = [&](int32_t t) { return tokenizer_.is_end_of_generation(t); };
    cb.on_token = [&](int32_t t) {
      const std::string piece = tokenizer_.token_piece(t);
      reply += piece;
      const std::string s = utf8.push(piece);
      std::fwrite(s.data(), 1, s.size(), stdout);
      std::fflush(stdout);
      return !interrupt::requested();
    };
    std::vector<int32_t> generated;
    const int budget = std::min(o_.n_predict, n_ctx - static_cast<int>(tokens.size()));
    last_.reused = static_cast<int>(common);
    last_.prefilled = static_cast<int>(tokens.size() - common);
    last_.generation = generate(ev_, sampler_, std::span<const int32_t>(tokens).subspan(common), budget, cb, &generated);
    if (interrupt::requested()) {
      last_.generation.stop_reason = "interrupted";
      interrupt::clear();
    }
    const std::string tail = utf8.flush();
    std::fwrite(tail.data(), 1, tail.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    // The cache holds the prompt and every generated token but the last (never evaluated).
    cached_.insert(cached_.end(), generated.begin(), generated.end());
    cached_.resize(static_cast<size_t>(ev_.n_past()));
    messages_.push_back({"assistant", reply});
  }

  void print_stats() const {
    const GenerationStats& g = last_.generation;
    std::fprintf(stderr,
                 "[actinfer] last turn: reused %d cached tokens, prefilled %d new in %.3f s; generated %d in %.3f s (%.1f tokens/s); "
                 "stop: %s\n[actinfer] context: %d of %d tokens, %zu messages\n",
                 last_.reused, last_.prefilled, g.prompt_seconds, g.n_generated, g.decode_seconds, g.decode_tokens_per_second(),
                 g.stop_reason.empty() ? "-" : g.stop_reason.c_str(), ev_.n_past(), ev_.n_ctx(), messages_.size());
  }

 private:
  const ChatOptions& o_;
  const Tokenizer& tokenizer_;
  Evaluator& ev_;
  Sampler sampler_;
  std::vector<ChatMessage> messages_;
  std::vector<int32_t> cached_;  // the tokens the KV cache holds, in order
  TurnStats last_;
};

void chat(const ChatOptions& o) {
  const DeploymentConfig config = o.runtime.load();
  auto weights = o.runtime.load_weights(config, o.model);
  const Tokenizer tokenizer(tokenizer_data_from_gguf(weights->file()));
  if (tokenizer.data().chat_template.empty())
    throw std::runtime_error("model '" + o.model.model_path + "' has no chat template (tokenizer.chat_template): use `actinfer run`");
  auto evaluator = o.runtime.make(config, weights, o.model);
  ChatSession session(o, tokenizer, *evaluator);
  LineReader reader;
  if (reader.interactive())
    std::fprintf(stderr, "[actinfer] chat with %s (%s template). /reset starts over, /stats, /exit; Ctrl-C stops a reply, Ctrl-D exits.\n",
                 weights->config().name.c_str(), chat_template_name(detect_chat_template(tokenizer.data().chat_template)));
  while (auto line = reader.read("> ")) {
    interrupt::clear();  // a Ctrl-C typed at the prompt does not stop the next reply
    if (line->empty()) continue;
    if (*line == "/exit" || *line == "/quit") break;
    if (*line == "/reset") {
      session.reset();
      std::fprintf(stderr, "[actinfer] conversation reset\n");
    } else if (*line == "/stats") {
      session.print_stats();
    } else if ((*line)[0] == '/') {
      std::fprintf(stderr, "[actinfer] unknown command '%s' (known: /reset, /stats, /exit)\n", line->c_str());
    } else {
      session.turn(*line);
    }
  }
  if (reader.interactive()) std::fputc('\n', stdout);
  finish_trace(*evaluator, config.trace);
}

}  // namespace

void register_chat(CLI::App& app) {
  auto o = std::make_shared<ChatOptions>();
  CLI::App* cmd = app.add_subcommand("chat", "talk with the model: one turn per line, through its chat template (/reset, /stats, /exit)");
  o->model.add_to(*cmd);
  o->runtime.add_to(*cmd, true);
  cmd->add_option("--system", o->system, "system message (default: the template's own, if any)");
  cmd->add_option("-n,--n-predict", o->n_predict, "most tokens per reply")->check(at_least(1))->capture_default_str();
  add_sampling_options(*cmd, o->sampling);
  cmd->callback([o] { chat(*o); });
}

}  // namespace actinfer::tools
