#include "model/model_weights.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

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
                                                       std::optional<Activation> activation_override) {
  GgufFile file = GgufFile::open(path);
  ModelConfig config = ModelConfig::from_gguf(file, activation_override);
  check_tensor_types(file);
  std::shared_ptr<ModelWeights> w(new ModelWeights(std::move(file), std::move(config)));
  const ModelConfig& c = w->config_;
  const Loader L(w->file_);
  const int64_t d = c.d_model, kv = static_cast<int64_t>(c.n_kv_heads) * c.head_dim;

  w->token_embd_ = L.matrix("token_embd.weight", d, c.n_vocab);
  w->output_ = c.tied_output ? w->token_embd_ : L.matrix("output.weight", d, c.n_vocab);
  w->output_norm_ = L.vector("output_norm.weight", d);
  w->layers_.resize(static_cast<size_t>(c.n_layers));
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    LayerWeights& l = w->layers_[static_cast<size_t>(i)];
    l.attn_norm = L.vector(p + "attn_norm.weight", d);
    l.ffn_norm = L.vector(p + "ffn_norm.weight", d);
    l.wq = L.matrix(p + "attn_q.weight", d, d);
    l.wk = L.matrix(p + "attn_k.weight", d, kv);
    l.wv = L.matrix(p + "attn_v.weight", d, kv);
    l.wo = L.matrix(p + "attn_output.weight", d, d);
    l.bq = L.optional_vector(p + "attn_q.bias", d);
    l.bk = L.optional_vector(p + "attn_k.bias", kv);
    l.bv = L.optional_vector(p + "attn_v.bias", kv);
    l.bo = L.optional_vector(p + "attn_output.bias", d);
    if (c.gated_ffn) l.gate = L.matrix(p + "ffn_gate.weight", d, c.d_ff);
    l.up = L.matrix(p + "ffn_up.weight", d, c.d_ff);
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
    n += l.wq.bytes() + l.wk.bytes() + l.wv.bytes() + l.wo.bytes() + l.gate.bytes() + l.up.bytes() + l.down.bytes();
  return n;
}

}  // namespace actinfer
