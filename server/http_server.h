// The HTTP front of `actinfer serve` (cpp-httplib): OpenAI's chat and completion
// endpoints (plain and streamed as server-sent events), /v1/models, /health,
// /metrics, /tokenize, /detokenize. It listens before the model is loaded (so
// /health can answer 503 while loading) and serves requests once attach() is called.
#pragma once
#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include "server/metrics.h"
#include "server/openai_api.h"
#include "server/slot_scheduler.h"

namespace httplib { class Server; }

namespace actinfer::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                     // 0: an ephemeral port
  std::string api_key;                 // empty: no key needed
  size_t max_body_bytes = 8u << 20;    // larger bodies get 413
  int http_threads = 16;               // connections served at once (streams hold one each)
};

class HttpServer {
 public:
  explicit HttpServer(ServerOptions options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds the socket; returns the port (the ephemeral one for port 0). Throws when it cannot bind.
  int bind();
  // Serves until stop() (call from its own thread).
  void listen();
  // From now on requests go to the scheduler (which, like the tokenizer, must outlive stop()).
  void attach(SlotScheduler& scheduler, const Tokenizer& tokenizer, std::string model_name);
  // Refuse new completions with 503 (shutting down), keep answering the rest.
  void refuse_new() { refusing_ = true; }
  // Ends listen() (from any thread), also when called before listen() has started serving.
  void stop();

 private:
  struct Serving {
    SlotScheduler* scheduler;
    const Tokenizer* tokenizer;
    std::string model_name;
  };
  void routes();

  ServerOptions options_;
  std::unique_ptr<httplib::Server> http_;
  std::atomic<const Serving*> serving_{nullptr};
  std::unique_ptr<Serving> serving_storage_;
  std::atomic<bool> refusing_{false};
  // httplib's stop() acts only on a server already running: stop() and listen() meet here so
  // that a stop() racing listen()'s start (serve giving up while loading) is not lost.
  std::atomic<bool> listen_started_{false}, listen_returned_{false}, stopping_{false};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> next_id_{1};
};

}  // namespace actinfer::server
