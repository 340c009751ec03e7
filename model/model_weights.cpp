#include "model/model_weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include <stdexcept>
#include <string>

#include "kernels/dequantize.h"

namespace actinfer {
namespace {

class Loader {
 public:
  explicit Loader(const GgufFile& f) : f_(f) {}

  const TensorInfo& tensor(const std::string& name, std::vector<int64_t> shape) const {
    const TensorInfo* t = f_.find_tensor(name);
    if (!t) throw std::runtime_error(f_.path().string() + ": missing tensor '" + name + "'");
    if (t->shape != shape)
      throw std::runtime_error(f_.path().string() + ": tensor '" + name + "' has shape " + shape_string(t->shape) +
                               ", expected " + shape_string(shape));
    return *t;
  }

  WeightMatrix matrix(const std::string& name, int64_t cols, int64_t rows) const {
    const TensorInfo& t = tensor(name, {cols, rows});
    return WeightMatrix{t.type, rows, cols, f_.tensor_data(t).data(), static_cast<size_t>(row_bytes(t.type, cols))};
  }

  std::vector<float> vector(const std::string& name, int64_t n) const {
    const TensorInfo& t = tensor(name, {n});
    std::vector<float> out(static_cast<size_t>(n));
    dequantize_row(t.type, f_.tensor_data(t).data(), out.data(), n);
    return out;
  }

  std::vector<float> optional_vector(const std::string& name, int64_t n) const {
    return f_.find_tensor(name) ? vector(name, n) : std::vector<float>{};
  }

 private:
  const GgufFile& f_;
};

// Layers the file holds tensors for: one more than the highest N in "blk.N.*" (0 without any).
// Counted before anything is sized by block_count, so a huge block_count in a small file is
// refused instead of allocating per-layer state for it.
int64_t layers_with_tensors(const GgufFile& f) {
  int64_t n = 0;
  for (const TensorInfo& t : f.tensors()) {
    if (t.name.rfind("blk.", 0) != 0) continue;
    const size_t dot = t.name.find('.', 4);
    const std::string_view index(t.name.data() + 4, (dot == std::string::npos ? t.name.size() : dot) - 4);
    int64_t i = 0;
    const auto [end, ec] = std::from_chars(index.data(), index.data() + index.size(), i);
    if (ec != std::errc() || end != index.data() + index.size() || index.empty() || i < 0)
      throw std::runtime_error(f.path().string() + ": tensor '" + t.name + "' has no layer number after 'blk.'");
    n = std::max(n, i + 1);
  }
  return n;
}

// PowerInfer stores the down projection transposed (`blk.N.ffn_down_t`: one row of d_model
// per neuron, for its AXPY kernels). The dense path reads down as [d_model][d_ff] rows:
// transpose it back once at load, exactly (F32 and F16 keep their type; other types are
// dequantized to F32).
WeightMatrix transposed_down(const GgufFile& f, const TensorInfo& t, int64_t d, int64_t ff,
                             std::vector<std::unique_ptr<std::vector<std::byte>>>& owned) {
  const std::byte* src = f.tensor_data(t).data();
  const size_t src_row = static_cast<size_t>(row_bytes(t.type, d));
  const GgmlType out_type = t.type == GgmlType::F16 ? GgmlType::F16 : GgmlType::F32;
  const size_t elem = out_type == GgmlType::F16 ? 2 : 4;
  auto buf = std::make_unique<std::vector<std::byte>>(static_cast<size_t>(d * ff) * elem);
  std::byte* dst = buf->data();
  std::vector<float> row(static_cast<size_t>(d));
  for (int64_t n = 0; n < ff; ++n) {  // neuron n = row n of down_t = column n of down
    const std::byte* r = src + static_cast<size_t>(n) * src_row;
    if (out_type == GgmlType::F16) {
      for (int64_t i = 0; i < d; ++i) std::memcpy(dst + (static_cast<size_t>(i * ff + n)) * 2, r + i * 2, 2);
      continue;
    }
    dequantize_row(t.type, r, row.data(), d);
    for (int64_t i = 0; i < d; ++i) std::memcpy(dst + (static_cast<size_t>(i * ff + n)) * 4, &row[static_cast<size_t>(i)], 4);
  }
  WeightMatrix m{out_type, d, ff, dst, static_cast<size_t>(ff) * elem};
  owned.push_back(std::move(buf));
  return m;
}

// Every tensor of the file in a type this engine reads (checked after the architecture, so a
// file of an unsupported architecture says that first).
void check_tensor_types(const GgufFile& f) {
  for (const TensorInfo& t : f.tensors())
    if (!is_weight_type(t.type))
      throw std::runtime_error(f.path().string() + ": tensor '" + t.name + "' has type " + type_name(t.type) +
                               ", which actinfer cannot read (supported: " + weight_type_names() + ")");
}

}  // namespace

std::shared_ptr<const ModelWeights> ModelWeights::load(const std::filesystem::path& path,
                                                       std::optional<Activation> activation_override, FileMemory memory) {
  GgufFile file = GgufFile::open(path, memory);
  ModelConfig config = ModelConfig::from_gguf(file, activation_override);
  check_tensor_types(file);
  std::shared_ptr<ModelWeights> w(new ModelWeights(std::move(file), std::move(config)));
  const ModelConfig& c = w->config_;
  const Loader L(w->file_);
  const int64_t d = c.d_model, kv = static_cast<int64_t>(c.n_kv_heads) * c.head_dim, qd = c.q_dim();
  const bool gemma3 = c.arch == "gemma3";

  w->token_embd_ = L.matrix("token_embd.weight", d, c.n_vocab);
  w->output_ = c.tied_output ? w->token_embd_ : L.matrix("output.weight", d, c.n_vocab);
  w->output_norm_ = L.vector("output_norm.weight", d);
  if (const int64_t present = layers_with_tensors(w->file_); present != c.n_layers)
    throw std::runtime_error(w->file_.path().string() + ": metadata '" + c.arch + ".block_count' = " +
                             std::to_string(c.n_layers) + " but the file holds tensors for " + std::to_string(present) +
                             " layers (blk.0 to blk." + std::to_string(present - 1) + ")");
  w->layers_.resize(static_cast<size_t>(c.n_layers));
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LayerWeights& l = w->layers_[static_cast<size_t>(i)];
    l.attn_norm = L.vector(p + "attn_norm.weight", d);
    l.ffn_norm = L.vector(p + "ffn_norm.weight", d);
    l.wq = L.matrix(p + "attn_q.weight", d, qd);
    l.wk = L.matrix(p + "attn_k.weight", d, kv);
    l.wv = L.matrix(p + "attn_v.weight", d, kv);
    l.wo = L.matrix(p + "attn_output.weight", qd, d);
    if (gemma3) {
      l.attn_q_norm = L.vector(p + "attn_q_norm.weight", c.head_dim);
      l.attn_k_norm = L.vector(p + "attn_k_norm.weight", c.head_dim);
      l.post_attn_norm = L.vector(p + "post_attention_norm.weight", d);
      l.post_ffn_norm = L.vector(p + "post_ffw_norm.weight", d);
    }
    l.bq = L.optional_vector(p + "attn_q.bias", qd);
    l.bk = L.optional_vector(p + "attn_k.bias", kv);
    l.bv = L.optional_vector(p + "attn_v.bias", kv);
    l.bo = L.optional_vector(p + "attn_output.bias", d);
    if (c.gated_ffn) l.gate = L.matrix(p + "ffn_gate.weight", d, c.d_ff);
    l.up = L.matrix(p + "ffn_up.weight", d, c.d_ff);
    if (const TensorInfo* dt = w->file_.find_tensor(p + "ffn_down_t.weight"); dt && !w->file_.find_tensor(p + "ffn_down.weight"))
      l.down = transposed_down(w->file_, L.tensor(p + "ffn_down_t.weight", {d, c.d_ff}), d, c.d_ff, w->owned_);
    else
      l.down = L.matrix(p + "ffn_down.weight", c.d_ff, d);
  }
  // Ask the kernel to start reading the weights in now rather than on first touch.
  const auto& tensors = w->file_.tensors();
  if (!tensors.empty()) {
    const std::byte* begin = w->file_.data_begin();
    const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto start = reinterpret_cast<uintptr_t>(begin) & ~(page - 1);
    size_t end = 0;
    for (const auto& t : tensors) end = std::max<size_t>(end, t.offset + static_cast<size_t>(t.n_bytes));
    madvise(reinterpret_cast<void*>(start), reinterpret_cast<uintptr_t>(begin) + end - start, MADV_WILLNEED);
  }
  return w;
}

size_t ModelWeights::bytes_per_decoded_token() const {
  size_t n = output_.bytes();
  for (const auto& l : layers_)
    for (const WeightMatrix* m : l.matrices()) n += m->bytes();
  return n;
}

double ModelWeights::prompt_flops(int n_prompt, int depth) const {
  double per_token = 0;  // multiply-adds of the layer matrices
  for (const auto& l : layers_)
    for (const WeightMatrix* m : l.matrices())
      per_token += static_cast<double>(m->rows) * static_cast<double>(m->cols);
  const double head = static_cast<double>(output_.rows) * static_cast<double>(output_.cols);
  return 2.0 * (per_token * n_prompt + (n_prompt > 0 ? head : 0.0)) + attention_flops(config_, n_prompt, depth);
}

}  // namespace actinfer
