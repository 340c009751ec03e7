// Which type each tensor gets in a llama.cpp quantization mix (`llama-quantize`'s Q4_K_M etc.),
// following llama.cpp's rules (src/llama-quant.cpp) so that a file written by
// `actinfer quantize` holds the same per-tensor types as the one users download:
//   - only tensors of two or more dimensions whose name ends in "weight" are quantized (not
//     norms, not ffn_gate_inp), others keep their type;
//   - output.weight (and token_embd.weight when the model ties them) get Q6_K, or Q8_0 when
//     their rows are not a multiple of the mix's block;
//   - attn_v and ffn_down get more bits in some mixes, by position: use_more_bits(i, n) is true
//     for the first and last eighth of the layers and every third layer between;
//   - a type whose block does not divide the row length falls back: Q2_K/Q3_K -> Q4_0,
//     Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, IQ4_XS -> IQ4_NL, then F16 if even that fails.
// No importance matrix is used (the rules that need one never apply).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/ggml_type.h"

namespace actinfer {

// The mixes, numbered as llama.cpp's llama_ftype (written as general.file_type).
enum class QuantMix : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q8_0 = 7,
  Q5_0 = 8,
  Q5_1 = 9,
  Q2_K = 10,
  Q3_K_S = 11,
  Q3_K_M = 12,
  Q3_K_L = 13,
  Q4_K_S = 14,
  Q4_K_M = 15,
  Q5_K_S = 16,
  Q5_K_M = 17,
  Q6_K = 18,
  IQ4_NL = 25,
  IQ4_XS = 30,
  BF16 = 32,
};

// "Q4_K_M" etc.; parse is case-insensitive and accepts "Q4_K" / "Q5_K" / "Q3_K" for the _M mixes
// as llama-quantize does.
std::optional<QuantMix> parse_quant_mix(std::string_view name);
std::string_view quant_mix_name(QuantMix mix);
std::string quant_mix_names();  // "Q2_K, Q3_K_S, ..." for messages
GgmlType quant_mix_default_type(QuantMix mix);

// What the rules need to know about the model.
struct QuantModelInfo {
  std::string arch;  // general.architecture
  int n_layer = 0;
  int n_head = 0;
  int n_head_kv = 0;
  int n_expert = 0;  // <arch>.expert_count, 0 if absent
};

struct QuantTensorIn {
  std::string name;
  GgmlType type;
  std::vector<int64_t> shape;  // ne0 first
};

struct QuantTensorPlan {
  size_t index = 0;  // into the input list
  GgmlType type;     // the type to write
  bool fallback = false;  // the mix's choice did not fit the row length
};

// One entry per input tensor, in the order llama.cpp writes them: tensors outside the blocks
// first, then block by block (by number), by name within each. pure: every quantized tensor
// gets the mix's default type (llama-quantize --pure). Throws std::runtime_error when a
// tensor's rows fit neither the chosen type nor its fallback and the mix has no fallback
// (e.g. Q4_0 rows not a multiple of 32).
std::vector<QuantTensorPlan> plan_quant_mix(QuantMix mix, const QuantModelInfo& model,
                                            const std::vector<QuantTensorIn>& tensors, bool pure = false);

}  // namespace actinfer
