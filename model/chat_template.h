// Chat prompt rendering for the common template families. The model's Jinja
// template (tokenizer.chat_template) is not executed: its family is detected
// from marker strings and rendered by built-in code, as llama.cpp does.
#pragma once
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace actinfer {

struct ChatMessage {
  std::string role, content;  // role: "system", "user" or "assistant"
};

class ChatTemplateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ChatTemplateKind {
  Unknown,
  ChatML,  // <|im_start|>role\ncontent<|im_end|>\n       (SmolLM, Qwen, ...)
  Llama2,  // [INST] <<SYS>>\n...\n<</SYS>>\n\nuser [/INST] assistant</s>
  Llama3,  // <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
  Zephyr,  // <|user|>\ncontent</s>\n<|assistant|>\n
  Phi3,    // <|user|>\ncontent<|end|>\n<|assistant|>\n
  Gemma,   // <start_of_turn>user\ncontent<end_of_turn>\n<start_of_turn>model\n
};

// Detects the family from a Jinja template, or from a family name given
// directly ("chatml", "llama2", "llama3", "zephyr", "phi3", "gemma").
ChatTemplateKind detect_chat_template(std::string_view tmpl);
const char* chat_template_name(ChatTemplateKind kind);

// The default system message a ChatML template inserts when the conversation
// has none (SmolLM2: "You are a helpful AI assistant named SmolLM, trained by
// Hugging Face"); empty when the template has none.
std::string chat_template_default_system(std::string_view tmpl);

// Renders the conversation. Throws ChatTemplateError for an empty or
// unrecognised template. BOS is not rendered (the tokenizer adds it when the
// model asks for it).
std::string apply_chat_template(const std::string& tmpl, std::span<const ChatMessage> messages,
                                bool add_generation_prompt);

}  // namespace actinfer
