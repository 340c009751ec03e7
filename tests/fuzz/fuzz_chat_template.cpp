// Fuzz target: the chat template renderer (model/chat_template.h). The input is a template,
// then messages, separated by NUL bytes; a message's first byte picks its role.
#include <cstdint>
#include <string>
#include <vector>

#include "model/chat_template.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace actinfer;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto [tmpl, rest] = fuzz::split_once(input, std::string_view("\0", 1));
  static const char* const kRoles[] = {"system", "user", "assistant", "tool"};
  std::vector<ChatMessage> messages;
  for (std::string_view left = rest; !left.empty();) {
    const auto [message, next] = fuzz::split_once(left, std::string_view("\0", 1));
    if (!message.empty())
      messages.push_back({kRoles[static_cast<uint8_t>(message[0]) % 4], std::string(message.substr(1))});
    if (next.data() == nullptr) break;
    left = next;
  }
  const std::string tmpl_text(tmpl);
  (void)chat_template_name(detect_chat_template(tmpl_text));
  fuzz::expect_clean_rejection([&] { (void)chat_template_default_system(tmpl_text); });
  for (bool add_generation_prompt : {false, true})
    fuzz::expect_clean_rejection([&] { (void)apply_chat_template(tmpl_text, messages, add_generation_prompt); });
  return 0;
}
