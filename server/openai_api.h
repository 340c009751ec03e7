// OpenAI's completion API as JSON: requests validated field by field into a
// CompletionRequest, responses and streamed chunks in OpenAI's shapes, errors as
// OpenAI-style error objects with the HTTP status they belong to.
#pragma once
#include <nlohmann/json_fwd.hpp>
#include <stdexcept>
#include <string>

#include "model/tokenizer.h"
#include "server/slot_scheduler.h"

namespace actinfer::server {

// A refused request: HTTP status, OpenAI error type and the offending field.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string type, const std::string& message, std::string param = {})
      : std::runtime_error(message), status_(status), type_(std::move(type)), param_(std::move(param)) {}
  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::string& param() const { return param_; }

 private:
  int status_;
  std::string type_, param_;
};

// {"error": {"message", "type", "param", "code"}}
std::string error_body(const ApiError& e);

enum class Endpoint { Chat, Completion };

struct ParsedRequest {
  CompletionRequest request;
  bool stream = false;
};

struct ApiContext {
  const Tokenizer& tokenizer;
  std::string model_name;  // what /v1/models lists; other names are refused (404)
  int n_ctx = 0;           // a slot's context
};

// Parses a request body (throws ApiError: 400 malformed or wrong field, 404 unknown model).
ParsedRequest parse_request(const std::string& body, Endpoint endpoint, const ApiContext& ctx);

// Bodies of the answers. `id` names the request ("chatcmpl-..." / "cmpl-..."), `created` is Unix time.
std::string response_body(Endpoint endpoint, const std::string& id, long created, const std::string& model,
                          const std::string& text, const std::string& finish_reason, int n_prompt, int n_generated);
// One server-sent event's JSON (without "data: "): a text delta, or the last chunk with finish_reason.
std::string chunk_body(Endpoint endpoint, const std::string& id, long created, const std::string& model,
                       const std::string& text, const std::string& finish_reason, bool first);

}  // namespace actinfer::server
