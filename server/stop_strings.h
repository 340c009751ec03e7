// Stop strings in streamed text: text that might be the start of a stop string is
// held back until the next pieces say whether it is one (as OpenAI's API and
// llama-server do), so a client never sees part of a stop string.
#pragma once
#include <string>
#include <vector>

namespace actinfer::server {

class StopStrings {
 public:
  explicit StopStrings(std::vector<std::string> stops);
  // Adds generated text; returns what may be sent now. After a stop string was found
  // stopped() is true and the text before it has been returned (the rest is dropped).
  std::string push(const std::string& text);
  // The held-back text once generation ends without a stop string.
  std::string flush();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;  // received, not yet sent
  bool stopped_ = false;
};

}  // namespace actinfer::server
