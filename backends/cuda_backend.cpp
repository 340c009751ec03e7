// The cuda backend (backends/cuda_backend.h): the layer steps of engine/layer_ops.cpp as CUDA
// kernel launches on one stream, over the weights of backends/device_model.h.
#include "backends/cuda_backend.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "backends/device_model.h"
#include "kernels/cuda/blas.h"
#include "kernels/cuda/device_info.h"
#include "kernels/cuda/device_memory.h"
#include "kernels/cuda/gpu_kernels.h"
#include "kernels/cuda/pointwise.h"

namespace actinfer {
namespace {

// Batches of at least this many tokens (prefill) multiply through dequantize_rows + cuBLAS
// SGEMM. The batched GEMV reads the stored weights once per token (Q4_0: 0.56 bytes per weight
// each time, from L2 when the matrix fits there); dequantizing writes 4 bytes per weight and
// SGEMM reads them once: for quantized weights that pays from about 8 tokens on.
constexpr int kGemmMinBatch = 8;
// The dequantized rows SGEMM reads: at most 64 MiB of floats (bigger matrices go through in
// blocks of rows; a bigger scratch would only save launches).
constexpr size_t kDequantScratchFloats = size_t{16} << 20;
constexpr size_t kPinnedAlign = 256;

std::string in_mib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return text;
}

size_t align_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

// What the kernels take (kernels/cuda/gpu_kernels.h): refuse anything else by name.
void check_model(const ModelConfig& c) {
  auto refuse = [&](const std::string& why) { throw std::invalid_argument("backend 'cuda' cannot run this model: " + why + "; use backend = \"host\""); };
  if (c.arch != "llama" && c.arch != "gemma3")
    refuse("architecture '" + c.arch + "' (the CUDA kernels implement llama and gemma3)");
  if (c.norm != NormKind::RMSNorm) refuse("it uses LayerNorm (the CUDA kernels have RMSNorm only)");
  if (c.positions != PositionKind::RoPE) refuse("it has learned positions (the CUDA kernels have RoPE only)");
  if (c.head_dim < 1 || c.head_dim > 256) refuse("head dimension " + std::to_string(c.head_dim) + " (the attention kernel takes 1..256)");
  if (c.n_kv_heads < 1 || c.n_heads % c.n_kv_heads != 0) refuse("n_heads is not a multiple of n_kv_heads");
  if (c.rope_dims % 2 != 0 || c.rope_dims > c.head_dim) refuse("rope dims " + std::to_string(c.rope_dims) + " is odd or above the head dimension");
}

// The device working buffers, sized for max_batch tokens before anything is allocated.
struct WorkBuffers {
  // kKNew, kVNew: the new positions' keys and values in float before an F16 cache rounds them.
  enum Id { kX, kXb, kQ, kAtt, kTmp, kXn, kY, kG, kU, kH, kKeep, kIdx, kHs, kDownScratch, kLogits, kHidden, kZ, kBits, kDequant, kKNew, kVNew, kCount };
  std::array<size_t, kCount> bytes{};
  std::array<cuda::DeviceBuffer, kCount> buffer;

  uint64_t total() const {
    uint64_t t = 0;
    for (size_t b : bytes) t += align_up(b, 256);
    return t;
  }
  void allocate() {
    for (size_t i = 0; i < kCount; ++i) buffer[i] = cuda::DeviceBuffer(bytes[i]);
  }
  template <class T>
  T* as(Id id) const {
    return buffer[id].as<T>();
  }
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(std::shared_ptr<const ModelWeights> w, const BackendOptions& o);
  ~CudaBackend() override {
    // Free the buffers on their device (the destroying thread may have another current).
    try {
      cuda::select_device(device_);
    } catch (...) {
    }
  }
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string name() const override { return name_; }
  void attention(int layer, std::span<const StepSequence> sequences, int B, float* x, float* xn) override;
  void ffn(int layer, const float* xn, int B, const NeuronSlice& slice, const std::vector<uint8_t>& active, float* y) override;
  uint64_t ffn_sparse(int layer, const float* xn, int B, const std::vector<std::vector<int32_t>>& per_token, float* y) override;
  void output(const float* x, int B, float* logits) override;
  void predict(int layer, const float* xn, int B, std::vector<std::vector<int32_t>>& per_token) override;

 private:
  static int selected(int device) {
    cuda::select_device(device);
    return device;
  }
  void begin(const char* what, int layer, int B) const;
  // One sequence's rows (x, xn: its B rows) against its slot's cache.
  void attention_of(int layer, int slot, int pos0, int B, float* x, float* xn);
  const std::byte* at(size_t offset) const { return arena_.as<const std::byte>() + offset; }
  const float* vec(size_t offset) const { return reinterpret_cast<const float*>(at(offset)); }
  float* buf(WorkBuffers::Id id) const { return bufs_.as<float>(id); }
  // Copies the caller's bytes into pinned memory at `offset` and queues their upload into `id`.
  void send(const void* src, size_t bytes, size_t offset, WorkBuffers::Id id);
  // Queues the download of `bytes` of buffer `id` into pinned memory at `offset`.
  void receive(WorkBuffers::Id id, size_t bytes, size_t offset) { bufs_.buffer[id].download_async(out_.as<std::byte>() + offset, bytes, stream_); }
  // Waits for everything queued, then copies `bytes` at pinned `offset` to the caller.
  void finish(void* dst, size_t bytes, size_t offset = 0);
  // y[B][m.rows] = x[B][m.cols] . m^T.
  void project(const DeviceMatrix& m, const float* x, float* y, int B);

  std::shared_ptr<const ModelWeights> w_;
  const ModelConfig& c_;
  const int device_;  // selected on the constructing thread before any member below is made
  const int max_batch_, n_ctx_, n_slots_;
  const KvCacheType cache_type_;  // F32: float elements; F16: IEEE half bits (uint16_t)
  const bool sparse_;
  std::shared_ptr<const NeuronPredictors> predictors_;  // the host copy the device model was planned from
  cuda::Stream stream_;
  std::optional<cuda::Blas> blas_;  // prefill SGEMM; empty when cuBLAS is missing or batches are small
  DeviceModel model_;
  cuda::DeviceBuffer arena_;  // every weight (model_'s offsets)
  cuda::DeviceBuffer k_cache_, v_cache_;  // [slot][layer][position][n_kv_heads * head_dim] of cache_type_
  WorkBuffers bufs_;
  size_t dequant_floats_ = 0;
  cuda::PinnedBuffer in_, out_;  // the activations crossing the bus
  size_t extra_offset_ = 0;      // in in_: the neuron flags or lists after the B x d_model floats
  size_t extra_bytes_ = 0;
  std::vector<size_t> token_start_;  // ffn_sparse: each token's first entry in the neuron lists
  std::string name_;
};

CudaBackend::CudaBackend(std::shared_ptr<const ModelWeights> w, const BackendOptions& o)
    : w_(std::move(w)),
      c_(w_->config()),
      device_(selected(o.device)),
      max_batch_(o.engine.max_batch),
      n_ctx_(o.n_ctx),
      n_slots_(o.n_slots),
      cache_type_(o.engine.cache_type),
      sparse_(o.sparse),
      predictors_(o.predictors),
      stream_() {  // creates the device's context (hundreds of MiB): before free memory is read
  check_model(c_);
  if (max_batch_ < 1 || max_batch_ > 65535 || n_ctx_ < 1 || n_slots_ < 1)  // 65535: the kernels' grid rows of tokens
    throw std::invalid_argument("backend 'cuda': batch " + std::to_string(max_batch_) + " (1..65535), ctx " + std::to_string(n_ctx_) +
                                " (>= 1) or slots " + std::to_string(n_slots_) + " (>= 1) are out of range");
  std::string blas_note = "batched GEMV (batches below " + std::to_string(kGemmMinBatch) + " tokens)";
  std::string reason;
  if (max_batch_ >= kGemmMinBatch) {
    if (cuda::blas_available(reason)) {
      blas_.emplace();
      blas_note = "dequantize + cuBLAS SGEMM from " + std::to_string(kGemmMinBatch) + " tokens";
    } else {
      blas_note = "batched GEMV (" + reason + ")";
    }
  }

  DeviceArenaPlan plan;
  model_ = plan_device_model(*w_, o, plan);
  const int64_t d = c_.d_model, kv = static_cast<int64_t>(c_.n_kv_heads) * c_.head_dim;
  const size_t cache_elements =
      static_cast<size_t>(n_slots_) * static_cast<size_t>(c_.n_layers) * static_cast<size_t>(n_ctx_) * static_cast<size_t>(kv);
  const size_t cache_bytes = cache_elements * kv_cache_element_bytes(cache_type_);
  DeviceFootprint held = model_.footprint;
  held.kv_cache = 2 * cache_bytes;  // as device_footprint counts it for the plan's budget
  try {
    check_budget(held, o.vram_budget, "cuda");
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(e.what()) + (model_.converted.empty() ? "" : " (weights " + model_.converted + ")"));
  }

  // Working buffers for max_batch tokens.
  const auto Bm = static_cast<size_t>(max_batch_);
  const size_t f = sizeof(float), row = Bm * static_cast<size_t>(d) * f;
  const auto cover = static_cast<size_t>(model_.max_cover), hot = static_cast<size_t>(model_.max_hot);
  const auto words = static_cast<size_t>(cuda::bit_words(c_.d_ff));
  auto& b = bufs_.bytes;
  b[WorkBuffers::kX] = b[WorkBuffers::kXb] = b[WorkBuffers::kTmp] = b[WorkBuffers::kXn] = row;
  b[WorkBuffers::kQ] = b[WorkBuffers::kAtt] = Bm * static_cast<size_t>(c_.q_dim()) * f;  // gemma3: heads x head_dim may exceed d
  b[WorkBuffers::kY] = row;
  b[WorkBuffers::kG] = b[WorkBuffers::kU] = b[WorkBuffers::kH] = Bm * cover * f;
  b[WorkBuffers::kKeep] = cover;
  b[WorkBuffers::kIdx] = b[WorkBuffers::kHs] = Bm * hot * 4;
  b[WorkBuffers::kDownScratch] = sparse_ ? cuda::sparse_down_scratch_floats(d) * f : 0;
  b[WorkBuffers::kLogits] = Bm * static_cast<size_t>(c_.n_vocab) * f;
  if (predictors_) {
    b[WorkBuffers::kHidden] = Bm * static_cast<size_t>(model_.max_rank) * f;
    b[WorkBuffers::kZ] = Bm * static_cast<size_t>(c_.d_ff) * f;
    b[WorkBuffers::kBits] = Bm * words * 4;
  }
  if (cache_type_ == KvCacheType::F16) b[WorkBuffers::kKNew] = b[WorkBuffers::kVNew] = Bm * static_cast<size_t>(kv) * f;
  if (blas_) {
    // The largest matrix SGEMM multiplies (attention, output head, hot gate/up/down), capped;
    // at least one row of the widest.
    size_t largest = static_cast<size_t>(model_.output.rows * model_.output.cols);
    for (const DeviceAttention& a : model_.attention)
      for (const DeviceMatrix* m : {&a.wq, &a.wk, &a.wv, &a.wo}) largest = std::max(largest, static_cast<size_t>(m->rows * m->cols));
    for (const DeviceDenseFfn& h : model_.dense)
      for (const DeviceMatrix* m : {&h.gate, &h.up, &h.down}) largest = std::max(largest, static_cast<size_t>(m->rows * m->cols));
    dequant_floats_ = std::max({std::min(largest, kDequantScratchFloats), static_cast<size_t>(d), cover});
    b[WorkBuffers::kDequant] = dequant_floats_ * f;
  }
  extra_offset_ = align_up(row, kPinnedAlign);
  extra_bytes_ = std::max(cover, Bm * hot * 4);
  const size_t in_bytes = extra_offset_ + extra_bytes_;
  const size_t out_bytes = std::max({2 * row, Bm * static_cast<size_t>(c_.n_vocab) * f, Bm * words * 4});

  // Everything counted, then checked against what the device has free, then allocated.
  const uint64_t buffers = bufs_.total() + (plan.bytes() - plan.payload());
  const std::string device = cuda::device_name(device_);
  const cuda::DeviceMemory mem = cuda::device_memory();
  check_device_memory(held, buffers, mem.free, mem.total, device);
  arena_ = plan.allocate_and_upload();
  k_cache_ = cuda::DeviceBuffer(cache_bytes);
  v_cache_ = cuda::DeviceBuffer(cache_bytes);
  k_cache_.fill_zero();  // never read before written; zero keeps runs reproducible bit for bit
  v_cache_.fill_zero();
  bufs_.allocate();
  in_ = cuda::PinnedBuffer(in_bytes);
  out_ = cuda::PinnedBuffer(out_bytes);
  token_start_.reserve(Bm + 1);
  // The uploads and memsets above may still be running on the legacy default stream, which
  // stream_ (non-blocking) does not wait for.
  cuda::synchronize_device();

  name_ = "cuda backend, " + device + ", holds " + held.describe() + " + " + in_mib(buffers) + " of working buffers; prefill: " + blas_note +
          (model_.converted.empty() ? "" : "; " + model_.converted);
}

void CudaBackend::begin(const char* what, int layer, int B) const {
  if (B < 1 || B > max_batch_)
    throw std::invalid_argument(std::string("cuda backend: ") + what + " of " + std::to_string(B) + " tokens (the batch is 1.." +
                                std::to_string(max_batch_) + ")");
  if (layer < -1 || layer >= c_.n_layers) throw std::out_of_range(std::string("cuda backend: ") + what + " of layer " + std::to_string(layer));
  cuda::select_device(device_);  // the actor may run on another thread than the last call
  // A call that failed half-way may have left copies from the pinned buffers queued: they
  // must be done before this call writes those buffers again (free when the stream is idle).
  stream_.synchronize();
}

void CudaBackend::send(const void* src, size_t bytes, size_t offset, WorkBuffers::Id id) {
  std::byte* pinned = in_.as<std::byte>() + offset;
  std::memcpy(pinned, src, bytes);
  bufs_.buffer[id].upload_async(pinned, bytes, stream_);
}

void CudaBackend::finish(void* dst, size_t bytes, size_t offset) {
  stream_.synchronize();
  std::memcpy(dst, out_.as<std::byte>() + offset, bytes);
}

void CudaBackend::project(const DeviceMatrix& m, const float* x, float* y, int B) {
  const std::byte* w = at(m.offset);
  if (!blas_ || B < kGemmMinBatch) {
    cuda::gemv(m.type, w, m.row_stride, m.rows, m.cols, x, y, B, stream_);
    return;
  }
  const int rows = static_cast<int>(m.rows), cols = static_cast<int>(m.cols);
  if (m.type == GgmlType::F32 && m.row_stride == static_cast<size_t>(cols) * sizeof(float)) {
    blas_->sgemm_xwt(x, reinterpret_cast<const float*>(w), y, B, rows, cols, stream_);
    return;
  }
  float* deq = buf(WorkBuffers::kDequant);
  const int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>(dequant_floats_) / m.cols);
  for (int64_t r0 = 0; r0 < m.rows; r0 += chunk) {  // stream order: each block's SGEMM reads it before the next overwrites it
    const int64_t n = std::min(chunk, m.rows - r0);
    cuda::dequantize_rows(m.type, w + static_cast<size_t>(r0) * m.row_stride, m.row_stride, n, m.cols, deq, stream_);
    blas_->sgemm_xwt(x, deq, y + r0, B, static_cast<int>(n), cols, stream_, 0.0f, rows);
  }
}

// engine/layer_ops.cpp's attention_block and ffn_norm. An F32 cache takes the projections
// straight (its rows for positions pos0.. are the [B][kv] block the GEMV writes); an F16 cache
// takes them rounded to half (as KvCache::store rounds them) after bias and RoPE in float.
// gemma3: per-head q/k norms, NEOX RoPE with the layer's base, a sliding window on local
// layers, the model's query scale, and the attention output RMS-normed before the residual add.
// Several sequences go one after another (attention is per sequence; the FFN batches them).
void CudaBackend::attention(int layer, std::span<const StepSequence> sequences, int B, float* x, float* xn) {
  begin("attention", layer, B);
  const size_t d = static_cast<size_t>(c_.d_model);
  int row = 0;
  for (const StepSequence& s : sequences) {
    if (s.n_tokens < 1 || row + s.n_tokens > B) throw std::invalid_argument("cuda backend: sequence rows do not add up to the step's " + std::to_string(B));
    attention_of(layer, s.slot, s.pos0, s.n_tokens, x + static_cast<size_t>(row) * d, xn + static_cast<size_t>(row) * d);
    row += s.n_tokens;
  }
  if (row != B) throw std::invalid_argument("cuda backend: sequence rows do not add up to the step's " + std::to_string(B));
}

void CudaBackend::attention_of(int layer, int slot, int pos0, int B, float* x, float* xn) {
  if (slot < 0 || slot >= n_slots_) throw std::out_of_range("cuda backend: slot " + std::to_string(slot) + " outside 0.." + std::to_string(n_slots_ - 1));
  if (pos0 < 0 || pos0 + B > n_ctx_)
    throw std::out_of_range("cuda backend: positions " + std::to_string(pos0) + ".." + std::to_string(pos0 + B - 1) + " exceed the KV cache of " +
                            std::to_string(n_ctx_));
  const DeviceAttention& a = model_.attention[static_cast<size_t>(layer)];
  const int64_t d = c_.d_model, kv = static_cast<int64_t>(c_.n_kv_heads) * c_.head_dim, qd = c_.q_dim();
  const size_t n = static_cast<size_t>(B) * static_cast<size_t>(d), layer_elements = static_cast<size_t>(n_ctx_) * static_cast<size_t>(kv);
  const size_t first = (static_cast<size_t>(slot) * static_cast<size_t>(c_.n_layers) + static_cast<size_t>(layer)) * layer_elements, new_at = first + static_cast<size_t>(pos0) * static_cast<size_t>(kv);
  const auto n_new = static_cast<int64_t>(B) * kv;
  float *dx = buf(WorkBuffers::kX), *dxb = buf(WorkBuffers::kXb), *dq = buf(WorkBuffers::kQ), *datt = buf(WorkBuffers::kAtt);
  float *dtmp = buf(WorkBuffers::kTmp), *dxn = buf(WorkBuffers::kXn);
  const bool half = cache_type_ == KvCacheType::F16;
  float* k_new = half ? buf(WorkBuffers::kKNew) : k_cache_.as<float>() + new_at;
  float* v_new = half ? buf(WorkBuffers::kVNew) : v_cache_.as<float>() + new_at;

  send(x, n * sizeof(float), 0, WorkBuffers::kX);
  cuda::rms_norm(dx, vec(a.attn_norm), dxb, d, c_.norm_eps, B, stream_);
  project(a.wq, dxb, dq, B);
  project(a.wk, dxb, k_new, B);
  project(a.wv, dxb, v_new, B);
  if (a.bq != kNoVector) cuda::add_bias(dq, vec(a.bq), qd, B, stream_);
  if (a.bk != kNoVector) cuda::add_bias(k_new, vec(a.bk), kv, B, stream_);
  if (a.bv != kNoVector) cuda::add_bias(v_new, vec(a.bv), kv, B, stream_);
  // Each head's query and key RMS-normed on its own: B x heads rows of head_dim.
  if (a.q_norm != kNoVector) cuda::rms_norm(dq, vec(a.q_norm), dq, c_.head_dim, c_.norm_eps, B * c_.n_heads, stream_);
  if (a.k_norm != kNoVector) cuda::rms_norm(k_new, vec(a.k_norm), k_new, c_.head_dim, c_.norm_eps, B * c_.n_kv_heads, stream_);
  const float base = c_.layer_rope_base(layer);
  cuda::rope_inplace(dq, B, c_.n_heads, c_.head_dim, c_.rope_dims, pos0, base, c_.rope_neox, stream_);
  cuda::rope_inplace(k_new, B, c_.n_kv_heads, c_.head_dim, c_.rope_dims, pos0, base, c_.rope_neox, stream_);
  const int window = c_.is_local_layer(layer) ? c_.sliding_window : 0;
  if (half) {
    uint16_t *k_layer = k_cache_.as<uint16_t>() + first, *v_layer = v_cache_.as<uint16_t>() + first;
    cuda::to_f16(k_new, k_cache_.as<uint16_t>() + new_at, n_new, stream_);
    cuda::to_f16(v_new, v_cache_.as<uint16_t>() + new_at, n_new, stream_);
    cuda::attention(dq, k_layer, v_layer, datt, B, pos0, c_.n_heads, c_.n_kv_heads, c_.head_dim, c_.attn_scale, window, stream_);
  } else {
    const float *k_layer = k_cache_.as<float>() + first, *v_layer = v_cache_.as<float>() + first;
    cuda::attention(dq, k_layer, v_layer, datt, B, pos0, c_.n_heads, c_.n_kv_heads, c_.head_dim, c_.attn_scale, window, stream_);
  }
  project(a.wo, datt, dtmp, B);
  if (a.bo != kNoVector) cuda::add_bias(dtmp, vec(a.bo), d, B, stream_);  // x + (wo.att + bo), as the CPU adds
  if (a.post_attn_norm != kNoVector) cuda::rms_norm(dtmp, vec(a.post_attn_norm), dtmp, d, c_.norm_eps, B, stream_);
  cuda::add_inplace(dx, dtmp, static_cast<int64_t>(n), stream_);
  cuda::rms_norm(dx, vec(a.ffn_norm), dxn, d, c_.norm_eps, B, stream_);
  receive(WorkBuffers::kX, n * sizeof(float), 0);
  receive(WorkBuffers::kXn, n * sizeof(float), n * sizeof(float));
  finish(x, n * sizeof(float));
  std::memcpy(xn, out_.as<std::byte>() + n * sizeof(float), n * sizeof(float));
}

// ffn_block over the held neurons: gate/up rows, the hidden state masked to the slice's active
// neurons (the cover's extra neurons and inactive ones give h = 0), then the down columns.
void CudaBackend::ffn(int layer, const float* xn, int B, const NeuronSlice& slice, const std::vector<uint8_t>& active, float* y) {
  begin("ffn", layer, B);
  if (sparse_) throw std::logic_error("cuda backend: dense ffn called on a backend holding neuron bundles");
  const DeviceDenseFfn& f = model_.dense[static_cast<size_t>(layer)];
  const size_t d = static_cast<size_t>(c_.d_model), n = static_cast<size_t>(B) * d, held = f.cover.size();
  if (!active.empty() && active.size() != static_cast<size_t>(c_.d_ff))
    throw std::invalid_argument("cuda backend: " + std::to_string(active.size()) + " active flags for " + std::to_string(c_.d_ff) + " neurons");
  auto* keep = reinterpret_cast<uint8_t*>(in_.as<std::byte>() + extra_offset_);
  std::fill(keep, keep + held, uint8_t{0});
  bool any = false;
  for (const NeuronRun& r : slice.runs)
    for (int32_t g = r.begin; g < r.end; ++g) {
      if (g < 0 || g >= c_.d_ff || f.position[static_cast<size_t>(g)] < 0)
        throw std::logic_error("cuda backend: ffn of layer " + std::to_string(layer) + " asks for neuron " + std::to_string(g) + ", which it does not hold");
      const bool on = active.empty() || active[static_cast<size_t>(g)] != 0;
      keep[f.position[static_cast<size_t>(g)]] = on ? 1 : 0;
      any = any || on;
    }
  if (!any) {
    std::fill(y, y + n, 0.0f);
    return;
  }
  send(xn, n * sizeof(float), 0, WorkBuffers::kXn);
  bufs_.buffer[WorkBuffers::kKeep].upload_async(keep, held, stream_);
  const float* dxn = buf(WorkBuffers::kXn);
  float *dg = buf(WorkBuffers::kG), *du = buf(WorkBuffers::kU), *dh = buf(WorkBuffers::kH), *dy = buf(WorkBuffers::kY);
  const bool gated = f.gate.rows > 0;
  if (gated) project(f.gate, dxn, dg, B);
  project(f.up, dxn, du, B);
  cuda::ffn_hidden(gated ? dg : nullptr, du, bufs_.as<uint8_t>(WorkBuffers::kKeep), c_.activation, dh, static_cast<int64_t>(held), B, stream_);
  project(f.down, dh, dy, B);
  receive(WorkBuffers::kY, n * sizeof(float), 0);
  finish(y, n * sizeof(float));
}

// NeuronShard::compute on the device: each token's held neurons through the sparse kernels.
uint64_t CudaBackend::ffn_sparse(int layer, const float* xn, int B, const std::vector<std::vector<int32_t>>& per_token, float* y) {
  begin("ffn_sparse", layer, B);
  if (!sparse_) throw std::logic_error("cuda backend: ffn_sparse without sparse kernels");
  if (per_token.size() < static_cast<size_t>(B)) throw std::invalid_argument("cuda backend: fewer active lists than tokens");
  const DeviceSparseFfn& s = model_.sparse[static_cast<size_t>(layer)];
  const size_t d = static_cast<size_t>(c_.d_model), n = static_cast<size_t>(B) * d;
  auto* idx = reinterpret_cast<int32_t*>(in_.as<std::byte>() + extra_offset_);
  const size_t capacity = extra_bytes_ / sizeof(int32_t);
  token_start_.assign(1, 0);
  size_t total = 0;
  for (int t = 0; t < B; ++t) {
    for (int32_t g : per_token[static_cast<size_t>(t)]) {
      if (g < 0 || g >= c_.d_ff) throw std::out_of_range("cuda backend: neuron " + std::to_string(g) + " is out of range");
      const int32_t k = s.local[static_cast<size_t>(g)];
      if (k < 0) continue;  // another worker's neuron
      if (total == capacity) throw std::invalid_argument("cuda backend: more active hot neurons than held (a list repeats a neuron)");
      idx[total++] = k;
    }
    token_start_.push_back(total);
  }
  if (total == 0) {
    std::fill(y, y + n, 0.0f);
    return 0;
  }
  send(xn, n * sizeof(float), 0, WorkBuffers::kXn);
  bufs_.buffer[WorkBuffers::kIdx].upload_async(idx, total * sizeof(int32_t), stream_);
  const std::byte* base = at(s.offset);
  const std::byte* gate = s.gated ? base : nullptr;
  const std::byte* up = base + (s.gated ? s.gate_up_row_bytes : 0);
  const std::byte* down = up + s.gate_up_row_bytes;
  const auto* didx = bufs_.as<int32_t>(WorkBuffers::kIdx);
  float *dxn = buf(WorkBuffers::kXn), *dhs = buf(WorkBuffers::kHs), *dy = buf(WorkBuffers::kY);
  for (int t = 0; t < B; ++t) {
    const size_t k0 = token_start_[static_cast<size_t>(t)], nt = token_start_[static_cast<size_t>(t) + 1] - k0;
    if (nt > 0)
      cuda::sparse_gate_up(s.gate_up_type, gate, up, s.record_bytes, c_.d_model, didx + k0, static_cast<int64_t>(nt), dxn + t * d,
                           c_.activation, dhs + k0, stream_);
    // nt == 0 writes zeros
    cuda::sparse_down(s.down_t_type, down, s.record_bytes, c_.d_model, didx + k0, static_cast<int64_t>(nt), dhs + k0, dy + t * d, false,
                      buf(WorkBuffers::kDownScratch), stream_);
  }
  receive(WorkBuffers::kY, n * sizeof(float), 0);
  finish(y, n * sizeof(float));
  // What the kernels may read: whole used records (a ReLU neuron whose gate does not fire
  // skips its up row and down column, which only the device knows).
  return static_cast<uint64_t>(total) * s.used_record_bytes;
}

void CudaBackend::output(const float* x, int B, float* logits) {
  begin("output", -1, B);
  const size_t n = static_cast<size_t>(B) * static_cast<size_t>(c_.d_model);
  const size_t n_logits = static_cast<size_t>(B) * static_cast<size_t>(c_.n_vocab);
  send(x, n * sizeof(float), 0, WorkBuffers::kX);
  cuda::rms_norm(buf(WorkBuffers::kX), vec(model_.output_norm), buf(WorkBuffers::kXb), c_.d_model, c_.norm_eps, B, stream_);
  project(model_.output, buf(WorkBuffers::kXb), buf(WorkBuffers::kLogits), B);
  if (c_.final_softcap > 0.0f) cuda::softcap_inplace(buf(WorkBuffers::kLogits), c_.final_softcap, static_cast<int64_t>(n_logits), stream_);
  receive(WorkBuffers::kLogits, n_logits * sizeof(float), 0);
  finish(logits, n_logits * sizeof(float));
}

// NeuronPredictors::predict on the device: fc1, ReLU, fc2, + bias >= 0 as bits; only the bits
// come back (d_ff / 8 bytes per token), decoded here into increasing lists.
void CudaBackend::predict(int layer, const float* xn, int B, std::vector<std::vector<int32_t>>& per_token) {
  begin("predict", layer, B);
  if (model_.predictors.empty()) throw std::logic_error("cuda backend: predict without predictors");
  const DevicePredictor& p = model_.predictors[static_cast<size_t>(layer)];
  const size_t n = static_cast<size_t>(B) * static_cast<size_t>(c_.d_model);
  const auto words = static_cast<size_t>(cuda::bit_words(c_.d_ff));
  send(xn, n * sizeof(float), 0, WorkBuffers::kXn);
  float *dhidden = buf(WorkBuffers::kHidden), *dz = buf(WorkBuffers::kZ);
  cuda::gemv(GgmlType::Q8_0, at(p.fc1.offset), p.fc1.row_stride, p.fc1.rows, p.fc1.cols, buf(WorkBuffers::kXn), dhidden, B, stream_);
  cuda::relu_inplace(dhidden, static_cast<int64_t>(B) * p.fc1.rows, stream_);
  cuda::gemv(GgmlType::Q8_0, at(p.fc2.offset), p.fc2.row_stride, p.fc2.rows, p.fc2.cols, dhidden, dz, B, stream_);
  cuda::active_bits(dz, vec(p.bias), c_.d_ff, B, bufs_.as<uint32_t>(WorkBuffers::kBits), stream_);
  receive(WorkBuffers::kBits, static_cast<size_t>(B) * words * sizeof(uint32_t), 0);
  stream_.synchronize();
  const auto* bits = out_.as<const uint32_t>();
  per_token.resize(static_cast<size_t>(B));
  for (int t = 0; t < B; ++t) {
    std::vector<int32_t>& list = per_token[static_cast<size_t>(t)];
    list.clear();
    for (size_t wi = 0; wi < words; ++wi)
      for (uint32_t word = bits[static_cast<size_t>(t) * words + wi]; word != 0; word &= word - 1)
        list.push_back(static_cast<int32_t>(wi * 32 + static_cast<size_t>(std::countr_zero(word))));
  }
}

}  // namespace

void check_device_memory(const DeviceFootprint& held, uint64_t buffers, uint64_t free, uint64_t total, const std::string& device) {
  if (held.total() + buffers <= free) return;
  throw std::invalid_argument("backend 'cuda': the gpu-worker needs " + in_mib(held.total() + buffers) + " on " + device + " (" + held.describe() +
                              " + working buffers " + in_mib(buffers) + ") but only " + in_mib(free) + " of " + in_mib(total) +
                              " are free: lower hot-fraction, ctx or batch, or free the device");
}

bool cuda_backend_available(std::string& reason) { return cuda::kernels_available(reason); }

std::unique_ptr<Backend> make_cuda_backend(std::shared_ptr<const ModelWeights> weights, const BackendOptions& options) {
  std::string reason;
  if (!cuda_backend_available(reason))
    throw std::invalid_argument("backend 'cuda': no usable CUDA device (" + reason + "); use backend = \"host\"");
  try {
    return std::make_unique<CudaBackend>(std::move(weights), options);
  } catch (const cuda::CudaError& e) {
    throw std::runtime_error(std::string("backend 'cuda': ") + e.what());
  }
}

}  // namespace actinfer
