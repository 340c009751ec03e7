#include "server/openai_api.h"

#include <cmath>
#include <limits>
#include <random>
#include <nlohmann/json.hpp>

#include "model/chat_template.h"

namespace actinfer::server {
namespace {

using nlohmann::json;

ApiError bad_field(const std::string& field, const std::string& what) {
  return ApiError(400, "invalid_request_error", "'" + field + "' " + what, field);
}

// A number field within [lo, hi]; absent or null leaves `out` unchanged.
void number_field(const json& j, const char* name, double lo, double hi, float& out) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return;
  if (!it->is_number()) throw bad_field(name, "must be a number, got " + std::string(it->type_name()));
  const double v = it->get<double>();
  if (!(v >= lo && v <= hi)) throw bad_field(name, "must be in [" + json(lo).dump() + ", " + json(hi).dump() + "], got " + it->dump());
  out = static_cast<float>(v);
}

template <class Int>
void integer_field(const json& j, const char* name, int64_t lo, int64_t hi, Int& out) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return;
  if (!it->is_number_integer()) throw bad_field(name, "must be an integer, got " + std::string(it->type_name()) + " " + it->dump());
  if (it->is_number_unsigned() ? it->get<uint64_t>() > static_cast<uint64_t>(hi) : (it->get<int64_t>() < lo || it->get<int64_t>() > hi))
    throw bad_field(name, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + it->dump());
  out = static_cast<Int>(it->is_number_unsigned() ? static_cast<int64_t>(it->get<uint64_t>()) : it->get<int64_t>());
}

std::string content_text(const json& content, size_t index) {
  const std::string field = "messages[" + std::to_string(index) + "].content";
  if (content.is_string()) return content.get<std::string>();
  if (content.is_array()) {  // [{"type": "text", "text": "..."}]
    std::string text;
    for (const json& part : content) {
      if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
        throw bad_field(field, "parts must be {\"type\": \"text\", \"text\": string} (only text is supported)");
      text += part["text"].get<std::string>();
    }
    return text;
  }
  throw bad_field(field, "must be a string or an array of text parts");
}

std::vector<ChatMessage> chat_messages(const json& j) {
  auto it = j.find("messages");
  if (it == j.end()) throw bad_field("messages", "is required");
  if (!it->is_array() || it->empty()) throw bad_field("messages", "must be a non-empty array");
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& m = (*it)[i];
    const std::string field = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw bad_field(field, "must be an object");
    if (!m.contains("role") || !m["role"].is_string()) throw bad_field(field + ".role", "must be a string");
    std::string role = m["role"].get<std::string>();
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant")
      throw bad_field(field + ".role", "must be system, developer, user or assistant, got '" + role + "'");
    if (!m.contains("content")) throw bad_field(field + ".content", "is required");
    out.push_back({role, content_text(m["content"], i)});
  }
  return out;
}

}  // namespace

std::string error_body(const ApiError& e) {
  json err = {{"message", e.what()}, {"type", e.type()}, {"param", e.param().empty() ? json(nullptr) : json(e.param())},
              {"code", e.status() == 404 ? json("model_not_found") : json(nullptr)}};
  return json{{"error", err}}.dump();
}

ParsedRequest parse_request(const std::string& body, Endpoint endpoint, const ApiContext& ctx) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) throw ApiError(400, "invalid_request_error", "the body is not valid JSON");
  if (!j.is_object()) throw ApiError(400, "invalid_request_error", std::string("the body must be a JSON object, got ") + j.type_name());

  if (auto it = j.find("model"); it != j.end() && !it->is_null()) {
    if (!it->is_string()) throw bad_field("model", "must be a string");
    if (it->get<std::string>() != ctx.model_name)
      throw ApiError(404, "invalid_request_error", "the model '" + it->get<std::string>() + "' does not exist; this server serves '" + ctx.model_name + "'", "model");
  }
  if (auto it = j.find("n"); it != j.end() && !it->is_null() && !(it->is_number_integer() && it->get<int64_t>() == 1))
    throw bad_field("n", "must be 1 (one choice per request)");

  ParsedRequest out;
  std::string text;
  bool parse_special = false;
  if (endpoint == Endpoint::Chat) {
    const auto messages = chat_messages(j);
    const std::string& tmpl = ctx.tokenizer.data().chat_template;
    try {
      text = apply_chat_template(tmpl, messages, true);
    } catch (const ChatTemplateError& e) {
      throw ApiError(400, "invalid_request_error", std::string("the model's chat template cannot render the messages: ") + e.what(), "messages");
    }
    parse_special = true;
  } else {
    auto it = j.find("prompt");
    if (it == j.end()) throw bad_field("prompt", "is required");
    if (it->is_array() && it->size() == 1 && (*it)[0].is_string()) text = (*it)[0].get<std::string>();
    else if (it->is_string()) text = it->get<std::string>();
    else throw bad_field("prompt", "must be a string (or an array of one string)");
  }
  out.request.prompt = ctx.tokenizer.encode(text, true, parse_special);
  if (out.request.prompt.empty()) throw bad_field(endpoint == Endpoint::Chat ? "messages" : "prompt", "encodes to no tokens");
  if (static_cast<int64_t>(out.request.prompt.size()) >= ctx.n_ctx)
    throw ApiError(400, "invalid_request_error",
                   "the prompt has " + std::to_string(out.request.prompt.size()) + " tokens, but a slot's context holds " +
                       std::to_string(ctx.n_ctx) + " tokens (prompt and completion); shorten it or start the server with a larger --ctx",
                   endpoint == Endpoint::Chat ? "messages" : "prompt");

  // Defaults: llama-server's sampling; generate until the end of generation or a full context.
  SamplerParams& s = out.request.sampling;
  s.temperature = 0.8f;
  s.top_k = 40;
  s.top_p = 0.95f;
  s.min_p = 0.05f;
  s.repeat_penalty = 1.0f;
  s.seed = std::random_device{}();
  out.request.max_tokens = ctx.n_ctx;
  const int64_t max_int = std::numeric_limits<int>::max();
  integer_field(j, "max_tokens", 0, max_int, out.request.max_tokens);
  integer_field(j, "max_completion_tokens", 0, max_int, out.request.max_tokens);
  number_field(j, "temperature", 0.0, 2.0, s.temperature);
  number_field(j, "top_p", 0.0, 1.0, s.top_p);
  if (s.top_p <= 0.0f) s.top_p = std::numeric_limits<float>::min();  // OpenAI allows 0: the top token only
  integer_field(j, "top_k", 0, max_int, s.top_k);
  number_field(j, "min_p", 0.0, 1.0, s.min_p);
  integer_field(j, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max(), s.seed);
  number_field(j, "frequency_penalty", -2.0, 2.0, s.frequency_penalty);
  number_field(j, "presence_penalty", -2.0, 2.0, s.presence_penalty);
  number_field(j, "repeat_penalty", 0.0, 10.0, s.repeat_penalty);
  if (s.repeat_penalty <= 0.0f) throw bad_field("repeat_penalty", "must be positive");
  if (auto it = j.find("stop"); it != j.end() && !it->is_null()) {
    if (it->is_string()) out.request.stop.push_back(it->get<std::string>());
    else if (it->is_array()) {
      for (const json& x : *it) {
        if (!x.is_string()) throw bad_field("stop", "must be a string or an array of strings");
        out.request.stop.push_back(x.get<std::string>());
      }
    } else throw bad_field("stop", "must be a string or an array of strings");
  }
  if (auto it = j.find("ignore_eos"); it != j.end() && !it->is_null()) {  // llama-server's extension, for benchmarks
    if (!it->is_boolean()) throw bad_field("ignore_eos", "must be a boolean");
    out.request.ignore_eos = it->get<bool>();
  }
  if (auto it = j.find("stream"); it != j.end() && !it->is_null()) {
    if (!it->is_boolean()) throw bad_field("stream", "must be a boolean");
    out.stream = it->get<bool>();
  }
  return out;
}

std::string response_body(Endpoint endpoint, const std::string& id, long created, const std::string& model,
                          const std::string& text, const std::string& finish_reason, int n_prompt, int n_generated) {
  json choice = {{"index", 0}, {"finish_reason", finish_reason}, {"logprobs", nullptr}};
  if (endpoint == Endpoint::Chat) choice["message"] = {{"role", "assistant"}, {"content", text}};
  else choice["text"] = text;
  json r = {{"id", id},
            {"object", endpoint == Endpoint::Chat ? "chat.completion" : "text_completion"},
            {"created", created},
            {"model", model},
            {"choices", json::array({choice})},
            {"usage", {{"prompt_tokens", n_prompt}, {"completion_tokens", n_generated}, {"total_tokens", n_prompt + n_generated}}}};
  return r.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string chunk_body(Endpoint endpoint, const std::string& id, long created, const std::string& model,
                       const std::string& text, const std::string& finish_reason, bool first) {
  json choice = {{"index", 0}, {"finish_reason", finish_reason.empty() ? json(nullptr) : json(finish_reason)}, {"logprobs", nullptr}};
  if (endpoint == Endpoint::Chat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || (first && finish_reason.empty())) delta["content"] = text;
    choice["delta"] = delta;
  } else {
    choice["text"] = text;
  }
  json r = {{"id", id},
            {"object", endpoint == Endpoint::Chat ? "chat.completion.chunk" : "text_completion"},
            {"created", created},
            {"model", model},
            {"choices", json::array({choice})}};
  return r.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace actinfer::server
