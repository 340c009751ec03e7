// `actinfer serve`: an OpenAI-compatible HTTP server. Requests share the model
// through N sequence slots decoded together (continuous batching, server/), on the
// runtime the deployment config names: the actor pipeline by default (every step one
// EvalRequest carrying each active sequence's tokens), or the batched dense engine.
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <pthread.h>
#include <string>
#include <thread>

#include "actors/actor_runtime.h"
#include "model/tokenizer.h"
#include "server/http_server.h"
#include "server/slot_scheduler.h"
#include "tools/cli_support.h"
#include "tools/commands.h"
#include "tools/model_options.h"
#include "tools/runtime_choice.h"

namespace actinfer::tools {
namespace {

struct ServeOptions {
  ModelOptions model;
  RuntimeChoice runtime;
  server::ServerOptions http;
  int parallel = 0;  // 0: the config's actinfer.batch
  int max_queue = 64;
  std::string api_key_file;
  std::string alias;
};

std::string read_key_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw std::invalid_argument("--api-key-file '" + path + "' is not a readable regular file");
  std::ifstream in(path);
  std::string key;
  std::getline(in, key);
  while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
  if (key.empty()) throw std::invalid_argument("--api-key-file '" + path + "' holds no key on its first line");
  return key;
}

void serve(ServeOptions o) {
  if (!o.api_key_file.empty()) {
    if (!o.http.api_key.empty()) throw std::invalid_argument("give --api-key or --api-key-file, not both");
    o.http.api_key = read_key_file(o.api_key_file);
  }

  // SIGINT/SIGTERM go to one thread that waits for them (blocked everywhere else:
  // the mask is inherited by every thread started below).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that left is a failed write, not a dead server

  server::HttpServer http(o.http);
  const int port = http.bind();
  std::fprintf(stderr, "[actinfer] listening on http://%s:%d (loading %s)\n", o.http.host.c_str(), port, o.model.model_path.c_str());
  std::jthread listener([&] { http.listen(); });
  std::atomic<bool> stop_requested{false};
  // The waiter is woken and joined whenever this frame ends (`leaving`, then a SIGTERM sent to
  // that thread alone), so it never outlives the `http` and flags it refers to.
  std::atomic<bool> leaving{false};
  std::jthread signal_waiter([&, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (leaving) return;
    stop_requested = true;
    std::fprintf(stderr, "\n[actinfer] %s: finishing in-flight requests, then exiting (again to quit at once)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    http.refuse_new();
    sigwait(&signals, &sig);
    if (leaving) return;
    std::_Exit(130);
  });
  struct WakeOnExit {
    std::atomic<bool>& leaving;
    std::jthread& waiter;
    ~WakeOnExit() {
      leaving = true;
      pthread_kill(waiter.native_handle(), SIGTERM);
      waiter.join();
    }
  } wake_waiter_on_exit{leaving, signal_waiter};

  // A model that cannot be loaded (or a refused --ctx) ends the command with its error: the
  // listener stops, and the signal waiter is woken and joined on the way out.
  std::shared_ptr<const ModelWeights> weights;
  std::unique_ptr<const Tokenizer> tokenizer;
  std::unique_ptr<BatchEvaluator> engine;
  std::unique_ptr<server::SlotScheduler> scheduler;
  try {
    const DeploymentConfig config = o.runtime.load();
    weights = o.runtime.load_weights(config, o.model);
    tokenizer = std::make_unique<const Tokenizer>(tokenizer_data_from_gguf(weights->file()));
    engine = o.runtime.make_batch(config, weights, o.model, o.parallel, o.model.n_ctx);
    scheduler = std::make_unique<server::SlotScheduler>(*engine, *tokenizer,
                                                        server::SchedulerOptions{.max_queue = o.max_queue, .prefill_chunk = o.model.batch});
  } catch (...) {
    http.stop();
    listener.join();
    throw;
  }
  const std::string name = o.alias.empty() ? std::filesystem::path(o.model.model_path).stem().string() : o.alias;
  http.attach(*scheduler, *tokenizer, name);
  std::fprintf(stderr, "[actinfer] serving '%s': %d slots of %d tokens on the %s, steps of up to %d tokens%s\n", name.c_str(),
               engine->n_slots(), engine->n_ctx(), dynamic_cast<const ActorRuntime*>(engine.get()) ? "actor runtime" : "batched dense engine",
               engine->max_step_tokens(), o.http.api_key.empty() ? "" : ", API key required");

  while (!stop_requested) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  scheduler->drain(std::chrono::seconds(3));
  http.stop();
  listener.join();
  std::fprintf(stderr, "[actinfer] stopped\n");
}

}  // namespace

void register_serve(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  CLI::App* cmd = app.add_subcommand("serve", "OpenAI-compatible HTTP server (chat and completions, streamed or not)");
  o->model.n_ctx = 4096;
  o->model.add_to(*cmd);
  o->runtime.add_to(*cmd, false);
  cmd->add_option("--host", o->http.host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", o->http.port, "port (0: any free port)")->check(CLI::Range(0, 65535))->capture_default_str();
  cmd->add_option("-P,--parallel,--np", o->parallel, "sequence slots decoded together (--ctx is shared between them; default: actinfer.batch, 4)")
      ->check(at_least(1));
  cmd->add_option("--max-queue", o->max_queue, "requests waiting beyond the slots before 429")->check(at_least(0))->capture_default_str();
  cmd->add_option("--api-key", o->http.api_key, "require this key (Authorization: Bearer KEY or X-Api-Key)");
  cmd->add_option("--api-key-file", o->api_key_file, "read the key from the first line of this file");
  cmd->add_option("--alias", o->alias, "model name clients use (default: the file name without .gguf)");
  cmd->add_option("--max-body", o->http.max_body_bytes, "largest request body in bytes (413 beyond)")->capture_default_str();
  cmd->callback([o] { serve(*o); });
}

}  // namespace actinfer::tools
