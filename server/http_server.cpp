#include "server/http_server.h"

#include <chrono>
#include <thread>

#include <chrono>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace actinfer::server {
namespace {

using nlohmann::json;

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status();
  res.set_content(error_body(e), "application/json");
}

long unix_now() {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

bool key_matches(const httplib::Request& req, const std::string& key) {
  const std::string auth = req.get_header_value("Authorization");
  if (auth.rfind("Bearer ", 0) == 0 && auth.substr(7) == key) return true;
  return req.get_header_value("X-Api-Key") == key;
}

std::string sse(const std::string& json_text) { return "data: " + json_text + "\n\n"; }

}  // namespace

HttpServer::HttpServer(ServerOptions options) : options_(std::move(options)), http_(std::make_unique<httplib::Server>()) {
  if (options_.http_threads <= 0) throw std::invalid_argument("http threads must be positive");
  const size_t n = static_cast<size_t>(options_.http_threads);
  // httplib takes ownership of the queue it is handed (its API needs a raw pointer).
  http_->new_task_queue = [n] { return new httplib::ThreadPool(n); };
  http_->set_payload_max_length(options_.max_body_bytes);
  routes();
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  int port = options_.port;
  if (port == 0) port = http_->bind_to_any_port(options_.host);
  else if (!http_->bind_to_port(options_.host, port)) port = -1;
  if (port <= 0)
    throw std::runtime_error("cannot listen on " + options_.host + ":" + std::to_string(options_.port) + " (address in use or not local?)");
  return port;
}

void HttpServer::listen() {
  listen_started_ = true;
  if (!stopping_) http_->listen_after_bind();
  listen_returned_ = true;
}

void HttpServer::attach(SlotScheduler& scheduler, const Tokenizer& tokenizer, std::string model_name) {
  serving_storage_ = std::make_unique<Serving>(Serving{&scheduler, &tokenizer, std::move(model_name)});
  serving_.store(serving_storage_.get());
}

void HttpServer::stop() {
  if (!http_) return;
  stopping_ = true;
  if (listen_started_)
    while (!http_->is_running() && !listen_returned_) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  http_->stop();
}

void HttpServer::routes() {
  httplib::Server& s = *http_;

  // Keys: every endpoint but /health.
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (options_.api_key.empty() || req.path == "/health" || key_matches(req, options_.api_key)) return httplib::Server::HandlerResponse::Unhandled;
    ++rejected_;
    send_error(res, ApiError(401, "authentication_error", "invalid or missing API key (send 'Authorization: Bearer KEY' or 'X-Api-Key: KEY')"));
    return httplib::Server::HandlerResponse::Handled;
  });
  // httplib answers some errors itself (413 for a body over the limit, 404 for unknown paths): give them an error object.
  s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413) {
      ++rejected_;
      send_error(res, ApiError(413, "invalid_request_error", "the request body is larger than " + std::to_string(options_.max_body_bytes) + " bytes"));
    } else if (res.status == 404) {
      send_error(res, ApiError(404, "invalid_request_error", "no endpoint " + req.method + " " + req.path));
    } else {
      send_error(res, ApiError(res.status, "server_error", "HTTP error " + std::to_string(res.status)));
    }
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, ApiError(500, "server_error", what));
  });

  s.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (!serving_.load()) {
      res.status = 503;
      res.set_content(R"({"status":"loading model"})", "application/json");
    } else {
      res.set_content(R"({"status":"ok"})", "application/json");
    }
  });

  auto ready = [this](httplib::Response& res) -> const Serving* {
    const Serving* sv = serving_.load();
    if (!sv) send_error(res, ApiError(503, "unavailable_error", "the model is loading"));
    return sv;
  };

  s.Get("/metrics", [this, ready](const httplib::Request&, httplib::Response& res) {
    const Serving* sv = ready(res);
    if (!sv) return;
    res.set_content(prometheus_text(sv->scheduler->stats(), HttpCounters{rejected_.load()}, sv->scheduler->n_slots()), "text/plain; version=0.0.4");
  });

  s.Get("/v1/models", [ready](const httplib::Request&, httplib::Response& res) {
    const Serving* sv = ready(res);
    if (!sv) return;
    json m = {{"id", sv->model_name}, {"object", "model"}, {"created", unix_now()}, {"owned_by", "actinfer"}};
    res.set_content(json{{"object", "list"}, {"data", json::array({m})}}.dump(), "application/json");
  });

  s.Post("/tokenize", [this, ready](const httplib::Request& req, httplib::Response& res) {
    const Serving* sv = ready(res);
    if (!sv) return;
    const json j = json::parse(req.body, nullptr, false);
    if (!j.is_object() || !j.contains("content") || !j["content"].is_string()) {
      ++rejected_;
      return send_error(res, ApiError(400, "invalid_request_error", "expected {\"content\": string}", "content"));
    }
    bool add_special = false;
    if (j.contains("add_special")) {
      if (!j["add_special"].is_boolean()) return send_error(res, ApiError(400, "invalid_request_error", "'add_special' must be a boolean", "add_special"));
      add_special = j["add_special"].get<bool>();
    }
    res.set_content(json{{"tokens", sv->tokenizer->encode(j["content"].get<std::string>(), add_special, true)}}.dump(), "application/json");
  });

  s.Post("/detokenize", [this, ready](const httplib::Request& req, httplib::Response& res) {
    const Serving* sv = ready(res);
    if (!sv) return;
    const json j = json::parse(req.body, nullptr, false);
    if (!j.is_object() || !j.contains("tokens") || !j["tokens"].is_array()) {
      ++rejected_;
      return send_error(res, ApiError(400, "invalid_request_error", "expected {\"tokens\": [integer, ...]}", "tokens"));
    }
    std::vector<int32_t> ids;
    for (const json& t : j["tokens"]) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= sv->tokenizer->n_vocab()) {
        ++rejected_;
        return send_error(res, ApiError(400, "invalid_request_error",
                                        "token " + t.dump() + " is not an id of the vocabulary (0.." + std::to_string(sv->tokenizer->n_vocab() - 1) + ")", "tokens"));
      }
      ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
    }
    res.set_content(json{{"content", sv->tokenizer->decode(ids)}}.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
  });

  auto complete = [this, ready](Endpoint endpoint) {
    return [this, ready, endpoint](const httplib::Request& req, httplib::Response& res) {
      const Serving* sv = ready(res);
      if (!sv) return;
      if (refusing_) return send_error(res, ApiError(503, "unavailable_error", "the server is shutting down"));
      ParsedRequest parsed;
      std::shared_ptr<RequestStream> stream;
      try {
        parsed = parse_request(req.body, endpoint, ApiContext{*sv->tokenizer, sv->model_name, sv->scheduler->n_ctx()});
        stream = sv->scheduler->submit(std::move(parsed.request));
      } catch (const ApiError& e) {
        ++rejected_;
        return send_error(res, e);
      } catch (const std::invalid_argument& e) {
        ++rejected_;
        return send_error(res, ApiError(400, "invalid_request_error", e.what()));
      }
      if (!stream) {
        ++rejected_;
        if (refusing_) return send_error(res, ApiError(503, "unavailable_error", "the server is shutting down"));
        return send_error(res, ApiError(429, "rate_limit_error", "every slot is busy and the queue is full; retry later"));
      }
      const std::string id = std::string(endpoint == Endpoint::Chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id_++);
      const long created = unix_now();
      const std::string model = sv->model_name;
      if (!parsed.stream) {
        std::string text;
        for (;;) {
          auto e = stream->pop(std::chrono::milliseconds(200));
          if (!e) continue;
          text += e->text;
          if (!e->final) continue;
          if (!e->error.empty()) return send_error(res, ApiError(500, "server_error", e->error));
          res.set_content(response_body(endpoint, id, created, model, text, e->finish_reason, e->n_prompt, e->n_generated), "application/json");
          return;
        }
      }
      res.set_header("Cache-Control", "no-cache");
      res.set_chunked_content_provider(
          "text/event-stream",
          [stream, endpoint, id, created, model](size_t, httplib::DataSink& sink) {
            bool first = true;
            auto send = [&](const std::string& data) {
              if (sink.write(data.data(), data.size())) return true;
              stream->cancel();  // the client left: the scheduler frees the slot at its next step
              return false;
            };
            for (;;) {
              auto e = stream->pop(std::chrono::milliseconds(200));
              if (!e) {
                if (!sink.is_writable()) {
                  stream->cancel();
                  return false;
                }
                continue;
              }
              if (!e->text.empty() || first) {
                if (!send(sse(chunk_body(endpoint, id, created, model, e->text, "", first)))) return false;
                first = false;
              }
              if (!e->final) continue;
              if (!e->error.empty()) {
                if (!send(sse(error_body(ApiError(500, "server_error", e->error))))) return false;
              } else {
                json last = json::parse(chunk_body(endpoint, id, created, model, "", e->finish_reason, false));
                last["usage"] = {{"prompt_tokens", e->n_prompt}, {"completion_tokens", e->n_generated}, {"total_tokens", e->n_prompt + e->n_generated}};
                if (!send(sse(last.dump()))) return false;
              }
              if (!send("data: [DONE]\n\n")) return false;
              sink.done();
              return true;
            }
          },
          [stream](bool success) {
            if (!success) stream->cancel();
          });
    };
  };
  s.Post("/v1/chat/completions", complete(Endpoint::Chat));
  s.Post("/chat/completions", complete(Endpoint::Chat));
  s.Post("/v1/completions", complete(Endpoint::Completion));
  s.Post("/completions", complete(Endpoint::Completion));
}

}  // namespace actinfer::server
