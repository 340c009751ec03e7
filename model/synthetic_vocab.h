// The vocabulary of synthetic models (model/synthetic_model.h): byte-level BPE merges
// learnt from a small built-in English text.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace actinfer {

// A byte-level BPE vocabulary in the GGUF "gpt2" format. Ids 0..255 are the single bytes
// (id b is byte b, written with GPT-2's byte-to-unicode mapping: ' ' is "Ġ"); then one
// token per merge, in rank order (merges learnt from a small built-in English text, then
// systematic letter merges when more are needed); the last three ids are the control
// tokens <|endoftext|> (bos and eos), <|im_start|>, <|im_end|>.
struct SyntheticVocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> token_types;  // 1 normal, 3 control
  std::vector<std::string> merges;   // "left right", rank order; merge k makes token 256 + k
  int32_t eos_id = 0;
  int32_t bos_id = 0;
  int32_t im_start_id = 0;
  int32_t im_end_id = 0;
};
// n_vocab >= 259; throws std::invalid_argument otherwise.
SyntheticVocab make_synthetic_vocab(int n_vocab);
// GPT-2's byte-to-unicode mapping: the UTF-8 text that stands for byte b in the vocabulary.
std::string gpt2_byte_token(uint8_t b);

}  // namespace actinfer
