// Chat templates: family detection and rendering, checked against
// hand-written expected prompts.
#include <doctest/doctest.h>
#include "tests/skip_report.h"

#include <filesystem>
#include <string>
#include <vector>

#include "model/chat_template.h"
#include "model/gguf_file.h"
#include "model/tokenizer.h"

using namespace actinfer;

namespace {

// SmolLM2-135M-Instruct's tokenizer.chat_template, verbatim.
const std::string kSmolLM2Template =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

const std::string kLlama3Template =
    "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

}  // namespace

TEST_CASE("chat template: SmolLM2 ChatML with the default system message") {
  CHECK(detect_chat_template(kSmolLM2Template) == ChatTemplateKind::ChatML);
  CHECK(chat_template_default_system(kSmolLM2Template) ==
        "You are a helpful AI assistant named SmolLM, trained by Hugging Face");

  const std::vector<ChatMessage> user = {{"user", "What is the capital of France?"}};
  CHECK(apply_chat_template(kSmolLM2Template, user, true) ==
        "<|im_start|>system\n"
        "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\n"
        "What is the capital of France?<|im_end|>\n"
        "<|im_start|>assistant\n");
  CHECK(apply_chat_template(kSmolLM2Template, user, false) ==
        "<|im_start|>system\n"
        "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\n"
        "What is the capital of France?<|im_end|>\n");

  // An explicit system message replaces the default one; multi-turn.
  const std::vector<ChatMessage> conv = {
      {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "2+2?"}};
  CHECK(apply_chat_template(kSmolLM2Template, conv, true) ==
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>user\n2+2?<|im_end|>\n"
        "<|im_start|>assistant\n");
  CHECK(apply_chat_template(kSmolLM2Template, {}, true) == "<|im_start|>assistant\n");
}

TEST_CASE("chat template: ChatML variants") {
  // Escaped newline inside the literal (as in Qwen's templates).
  const std::string qwen =
      "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + "
      "'<|im_end|>\\n' }}{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are "
      "a helpful assistant.<|im_end|>\\n' }}{%- endif %}";
  CHECK(chat_template_default_system(qwen) ==
        "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
  // Plain ChatML without a default system message.
  const std::string plain =
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
      "'<|im_end|>' + '\n'}}{% endfor %}";
  CHECK(chat_template_default_system(plain).empty());
  const std::vector<ChatMessage> user = {{"user", "Hi"}};
  CHECK(apply_chat_template(plain, user, true) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  CHECK(apply_chat_template("chatml", user, false) == "<|im_start|>user\nHi<|im_end|>\n");
}

TEST_CASE("chat template: other families") {
  const std::vector<ChatMessage> conv = {{"system", "Sys"}, {"user", "Hi"}, {"assistant", "Yo"}, {"user", "Q"}};
  CHECK(detect_chat_template(kLlama3Template) == ChatTemplateKind::Llama3);
  CHECK(apply_chat_template(kLlama3Template, conv, true) ==
        "<|start_header_id|>system<|end_header_id|>\n\nSys<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nYo<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nQ<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n");
  CHECK(apply_chat_template("llama2", conv, true) ==
        "[INST] <<SYS>>\nSys\n<</SYS>>\n\nHi [/INST] Yo </s><s>[INST] Q [/INST]");
  CHECK(apply_chat_template("zephyr", conv, true) ==
        "<|system|>\nSys</s>\n<|user|>\nHi</s>\n<|assistant|>\nYo</s>\n<|user|>\nQ</s>\n<|assistant|>\n");
  CHECK(apply_chat_template("phi3", conv, true) ==
        "<|system|>\nSys<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nYo<|end|>\n<|user|>\nQ<|end|>\n<|assistant|>\n");
  CHECK(apply_chat_template("gemma", conv, true) ==
        "<start_of_turn>user\nSys\n\nHi<end_of_turn>\n<start_of_turn>model\nYo<end_of_turn>\n"
        "<start_of_turn>user\nQ<end_of_turn>\n<start_of_turn>model\n");
}

TEST_CASE("chat template: errors") {
  const std::vector<ChatMessage> user = {{"user", "Hi"}};
  CHECK_THROWS_AS(apply_chat_template("", user, true), ChatTemplateError);
  CHECK_THROWS_AS(apply_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}", user, true),
                  ChatTemplateError);
  CHECK(detect_chat_template("{{ whatever }}") == ChatTemplateKind::Unknown);
}

TEST_CASE("chat template: SmolLM2 GGUF template renders and tokenizes") {
  const std::string path = std::string(ACTINFER_SOURCE_DIR) + "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(path)) {
    ACTINFER_REPORT_SKIPPED("skipped: model file not found at " << path);
    return;
  }
  Tokenizer tok(tokenizer_data_from_gguf(GgufFile::open(path)));
  CHECK(tok.data().chat_template == kSmolLM2Template);
  const std::vector<ChatMessage> user = {{"user", "Hi"}};
  const std::string prompt = apply_chat_template(tok.data().chat_template, user, true);
  const auto ids = tok.encode(prompt, tok.add_bos(), true);
  REQUIRE(ids.size() > 6);
  CHECK(ids.front() == 1);                  // <|im_start|>
  // ... <|im_start|> "ass" "istant" "\n" (ids from the reference vectors)
  CHECK(std::vector<int32_t>(ids.end() - 4, ids.end()) == std::vector<int32_t>{1, 520, 9531, 198});
  CHECK(tok.decode(ids) == prompt);
}
