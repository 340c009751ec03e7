// Requantizes a GGUF model file into one of llama.cpp's mixes (model/quantize_mix.h), like
// `llama-quantize IN OUT TYPE`: the metadata is copied (general.quantization_version and
// general.file_type set), every tensor is converted to the type its mix rules give (read in any
// type this engine dequantizes, written with the type table's quantizers, for the mixes' types
// those of kernels/ggml_quantizers.h: ggml's algorithms, llama-quantize's bytes) or copied when the type stays, in llama.cpp's tensor order.
// The file is written to a temporary name next to `out` and renamed when complete; a failure
// leaves nothing behind.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>

#include "model/quantize_mix.h"

namespace actinfer {

struct QuantizeModelOptions {
  QuantMix mix = QuantMix::Q4_K_M;
  bool pure = false;  // every quantized tensor in the mix's default type (llama-quantize --pure)
  int threads = 1;
};

struct QuantizeModelReport {
  size_t n_tensors = 0;
  size_t n_converted = 0;  // tensors whose type changed
  size_t n_fallback = 0;   // tensors whose rows did not fit the mix's choice
  uint64_t bytes_in = 0;   // tensor data
  uint64_t bytes_out = 0;
  uint64_t n_elements = 0;
  std::map<std::string, int> type_counts;  // output type name -> tensors
};

// done/total in tensor data bytes written; name of the tensor being written.
using QuantizeProgressFn = std::function<void(uint64_t done, uint64_t total, const std::string& name)>;

// Throws GgufError for an unreadable input, std::runtime_error naming the tensor for a type that
// cannot be read or rows that fit no type, and for I/O failures.
QuantizeModelReport quantize_model(const std::filesystem::path& in, const std::filesystem::path& out,
                                   const QuantizeModelOptions& options, const QuantizeProgressFn& progress = {});

}  // namespace actinfer
