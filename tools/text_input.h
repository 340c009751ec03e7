// What subcommands that read a text file and report progress share.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/tokenizer.h"

namespace actinfer::tools {

// The whole file, with one trailing newline dropped (as llama.cpp's -f does).
// Throws naming the file when it is missing, unreadable or empty; `hint` says
// how to make it (e.g. which script writes it).
std::string read_text_file(const std::string& path, const std::string& hint);

// A whole text as one document, as llama.cpp tokenizes for perplexity: BOS first
// where the model adds it, no EOS.
std::vector<int32_t> tokenize_document(const Tokenizer& tokenizer, const std::string& text);

// "12.3s", "4m05s", "1h02m03s": elapsed times and ETAs on progress lines.
std::string format_duration(double seconds);

}  // namespace actinfer::tools
