// The model as the cuda backend holds it on the device: where each weight lives in one device
// allocation. Everything is planned on the host first (offsets, sizes, how to fill each piece),
// so the total can be checked against the VRAM budget and the device's free memory before
// anything is allocated; then one cudaMalloc and one upload per piece, at construction only.
//
// What it holds (the gpu-worker's share, as device_footprint() in backends/backend.h counts it):
// the attention weights and norms of every layer, the output head and norm, the hot FFN
// neurons, and the trained predictors when the backend runs them. Hot neurons are held
//   * dense (options.sparse false): the gate and up rows of the hot neurons, and the columns
//     of down for them, widened to whole quantization blocks of down ("the cover"; the extra
//     neurons are masked out at run time, as ffn_block masks them), gathered into compact
//     matrices [cover][d_model] and [d_model][cover];
//   * sparse: as neuron-bundle records (engine/neuron_bundles.h), the same bytes the host's
//     NeuronShard builds, so the CUDA sparse kernels read them as the CPU's do.
// Weights are stored as they are when the GPU kernels read their type (F32, F16, Q8_0, Q4_0,
// Q4_1); other types (BF16, K-quants) are dequantized to F32 on the host first: exact, at 4
// bytes per weight (the backend names them in its description).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/ggml_type.h"

namespace actinfer {

// Byte offsets into one device allocation, each with its source: host bytes copied as they are,
// or a function that writes the piece into a host staging buffer (gathered or converted data).
class DeviceArenaPlan {
 public:
  static constexpr size_t kAlign = 256;  // what cudaMalloc guarantees, kept for every piece

  size_t add_copy(const void* src, size_t bytes);
  // `fill` gets a 64-byte-aligned host buffer of exactly `bytes` bytes (neuron bundles need 64).
  size_t add_filled(size_t bytes, std::function<void(std::byte* dst)> fill);
  size_t bytes() const { return end_; }        // the allocation, padding included
  size_t payload() const { return payload_; }  // the pieces alone

  // One cudaMalloc of bytes(), then every piece uploaded (synchronously; filled pieces through
  // one reused host staging buffer). Throws CudaError.
  cuda::DeviceBuffer allocate_and_upload() const;

 private:
  struct Piece {
    size_t offset = 0, bytes = 0;
    const void* src = nullptr;
    std::function<void(std::byte*)> fill;
  };
  size_t place(size_t bytes);
  std::vector<Piece> pieces_;
  size_t end_ = 0, payload_ = 0;
};

// A weight matrix on the device: rows of a type the GPU kernels read, row_stride bytes apart.
struct DeviceMatrix {
  GgmlType type = GgmlType::F32;
  int64_t rows = 0, cols = 0;
  size_t row_stride = 0;
  size_t offset = 0;  // in the arena
  size_t bytes() const { return row_stride * static_cast<size_t>(rows); }
};

inline constexpr size_t kNoVector = std::numeric_limits<size_t>::max();  // e.g. a model without biases

struct DeviceAttention {
  DeviceMatrix wq, wk, wv, wo;
  size_t attn_norm = 0, ffn_norm = 0;  // [d_model] floats
  size_t bq = kNoVector, bk = kNoVector, bv = kNoVector, bo = kNoVector;
  // gemma3 (kNoVector otherwise): per-head query / key norms [head_dim], post-attention norm [d_model].
  size_t q_norm = kNoVector, k_norm = kNoVector, post_attn_norm = kNoVector;
};

// Hot neurons for the dense kernels (see the header comment).
struct DeviceDenseFfn {
  std::vector<int32_t> cover;     // the neurons held, increasing: whole blocks of down's columns
  std::vector<int32_t> position;  // [d_ff]: index in cover, or -1
  DeviceMatrix gate, up;          // [cover][d_model]; gate.rows == 0 for a plain FFN
  DeviceMatrix down;              // [d_model][cover]
};

// Hot neurons as neuron-bundle records.
struct DeviceSparseFfn {
  size_t offset = 0;  // record 0
  int64_t n = 0;      // records
  bool gated = true;
  GgmlType gate_up_type = GgmlType::F32, down_t_type = GgmlType::F32;
  size_t gate_up_row_bytes = 0, record_bytes = 0, used_record_bytes = 0;
  std::vector<int32_t> local;  // [d_ff]: record index, or -1 (another worker's neuron)
};

struct DevicePredictor {
  DeviceMatrix fc1, fc2;  // Q8_0 [rank][d_model], [d_ff][rank]
  size_t bias = 0;        // [d_ff] floats
};

struct DeviceModel {
  std::vector<DeviceAttention> attention;
  std::vector<DeviceDenseFfn> dense;     // per layer, without options.sparse
  std::vector<DeviceSparseFfn> sparse;   // per layer, with options.sparse
  std::vector<DevicePredictor> predictors;  // per layer, with options.predictors
  DeviceMatrix output;
  size_t output_norm = 0;
  DeviceFootprint footprint;  // what it holds (kv_cache left 0: the backend owns the cache)
  std::string converted;      // "" or e.g. "stored as F32: output (Q6_K), 30 x ffn_down (Q6_K)"
  int64_t max_cover = 0, max_hot = 0, max_rank = 0;
};

// Plans the model into `arena` (nothing is allocated). options.hot_neurons: the hot neurons of
// every layer (increasing). Throws std::invalid_argument for a model or hot set the kernels
// cannot take, naming it.
DeviceModel plan_device_model(const ModelWeights& w, const BackendOptions& options, DeviceArenaPlan& arena);

}  // namespace actinfer
