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

namespace actinfer::tools {

// All of standard input, with one trailing newline dropped; throws when it is empty.
std::string read_stdin_text();
// True when standard input is a pipe or a regular file (`echo hi | actinfer run`,
// `< file`), not a terminal or /dev/null: `run` then takes its prompt from it.
bool stdin_is_piped();

}  // namespace actinfer::tools
