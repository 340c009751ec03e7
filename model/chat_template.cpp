#include "model/chat_template.h"

#include <string>

namespace actinfer {
namespace {

bool contains(std::string_view s, std::string_view what) { return s.find(what) != std::string_view::npos; }

std::string trimmed(std::string_view s) {
  const char* ws = " \t\n\r\f\v";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

ChatTemplateKind detect_chat_template(std::string_view t) {
  if (t == "chatml") return ChatTemplateKind::ChatML;
  if (t == "llama2" || t == "llama-2") return ChatTemplateKind::Llama2;
  if (t == "llama3" || t == "llama-3") return ChatTemplateKind::Llama3;
  if (t == "zephyr") return ChatTemplateKind::Zephyr;
  if (t == "phi3" || t == "phi-3") return ChatTemplateKind::Phi3;
  if (t == "gemma") return ChatTemplateKind::Gemma;
  if (contains(t, "<|im_start|>")) return ChatTemplateKind::ChatML;
  if (contains(t, "<|start_header_id|>") && contains(t, "<|end_header_id|>")) return ChatTemplateKind::Llama3;
  if (contains(t, "<start_of_turn>")) return ChatTemplateKind::Gemma;
  if (contains(t, "<|user|>") && contains(t, "<|end|>")) return ChatTemplateKind::Phi3;
  if (contains(t, "<|user|>")) return ChatTemplateKind::Zephyr;
  if (contains(t, "[INST]")) return ChatTemplateKind::Llama2;
  return ChatTemplateKind::Unknown;
}

const char* chat_template_name(ChatTemplateKind kind) {
  switch (kind) {
    case ChatTemplateKind::ChatML: return "chatml";
    case ChatTemplateKind::Llama2: return "llama2";
    case ChatTemplateKind::Llama3: return "llama3";
    case ChatTemplateKind::Zephyr: return "zephyr";
    case ChatTemplateKind::Phi3: return "phi3";
    case ChatTemplateKind::Gemma: return "gemma";
    case ChatTemplateKind::Unknown: break;
  }
  return "unknown";
}

std::string chat_template_default_system(std::string_view t) {
  // Looks for a string literal  '<|im_start|>system\n TEXT <|im_end|>  whose
  // TEXT is plain (no Jinja expression), with the newline written either as a
  // real newline or as the escape \n.
  static constexpr std::string_view head = "<|im_start|>system";
  for (size_t pos = t.find(head); pos != std::string_view::npos; pos = t.find(head, pos + 1)) {
    if (pos == 0 || (t[pos - 1] != '\'' && t[pos - 1] != '"')) continue;
    const char quote = t[pos - 1];
    size_t p = pos + head.size();
    if (t.substr(p, 1) == "\n")
      p += 1;
    else if (t.substr(p, 2) == "\\n")
      p += 2;
    else
      continue;
    size_t end = t.find("<|im_end|>", p);
    if (end == std::string_view::npos) continue;
    std::string_view body = t.substr(p, end - p);
    if (body.find(quote) != std::string_view::npos || contains(body, "{") || contains(body, "}")) continue;
    std::string out;
    for (size_t i = 0; i < body.size(); ++i) {
      if (body[i] == '\\' && i + 1 < body.size()) {
        char e = body[++i];
        out += e == 'n' ? '\n' : e == 't' ? '\t' : e;
      } else {
        out += body[i];
      }
    }
    return out;
  }
  return {};
}

std::string apply_chat_template(const std::string& tmpl, std::span<const ChatMessage> messages,
                                bool add_generation_prompt) {
  if (tmpl.empty()) throw ChatTemplateError("the model has no chat template (tokenizer.chat_template)");
  const ChatTemplateKind kind = detect_chat_template(tmpl);
  std::string out;
  switch (kind) {
    case ChatTemplateKind::ChatML: {
      if (!messages.empty() && messages[0].role != "system") {
        std::string sys = chat_template_default_system(tmpl);
        if (!sys.empty()) out += "<|im_start|>system\n" + sys + "<|im_end|>\n";
      }
      for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      if (add_generation_prompt) out += "<|im_start|>assistant\n";
      break;
    }
    case ChatTemplateKind::Llama3: {
      for (const auto& m : messages)
        out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trimmed(m.content) + "<|eot_id|>";
      if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      break;
    }
    case ChatTemplateKind::Gemma: {
      // No system role: the system text is prepended to the first user turn.
      std::string pending_system;
      for (const auto& m : messages) {
        if (m.role == "system") {
          pending_system += trimmed(m.content) + "\n\n";
          continue;
        }
        const std::string role = m.role == "assistant" ? "model" : m.role;
        out += "<start_of_turn>" + role + "\n" + pending_system + trimmed(m.content) + "<end_of_turn>\n";
        pending_system.clear();
      }
      if (add_generation_prompt) out += "<start_of_turn>model\n";
      break;
    }
    case ChatTemplateKind::Phi3: {
      for (const auto& m : messages) out += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
      if (add_generation_prompt) out += "<|assistant|>\n";
      break;
    }
    case ChatTemplateKind::Zephyr: {
      for (const auto& m : messages) out += "<|" + m.role + "|>\n" + m.content + "</s>\n";
      if (add_generation_prompt) out += "<|assistant|>\n";
      break;
    }
    case ChatTemplateKind::Llama2: {
      const bool system_block = contains(tmpl, "<<SYS>>") || tmpl == "llama2" || tmpl == "llama-2";
      const bool strip = contains(tmpl, "content.strip()") || contains(tmpl, "content | trim");
      bool in_turn = false;
      for (const auto& m : messages) {
        const std::string content = strip ? trimmed(m.content) : m.content;
        if (!in_turn) {
          out += out.empty() ? "[INST] " : "<s>[INST] ";
          in_turn = true;
        }
        if (m.role == "system") {
          out += system_block ? "<<SYS>>\n" + content + "\n<</SYS>>\n\n" : content + "\n\n";
        } else if (m.role == "user") {
          out += content + " [/INST]";
        } else {
          out += " " + content + " </s>";
          in_turn = false;
        }
      }
      // The prompt already ends with [/INST] after a user turn; the model answers next.
      (void)add_generation_prompt;
      break;
    }
    case ChatTemplateKind::Unknown:
      throw ChatTemplateError(
          "unrecognised chat template (supported families: chatml, llama2, llama3, zephyr, phi3, gemma); "
          "template starts with: " +
          tmpl.substr(0, 120));
  }
  return out;
}

}  // namespace actinfer
