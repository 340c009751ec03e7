#include "backends/device_model.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>

#include "engine/layer_ops.h"
#include "engine/neuron_bundles.h"
#include "kernels/cuda/gpu_kernels.h"
#include "kernels/dequantize.h"

namespace actinfer {

size_t DeviceArenaPlan::place(size_t bytes) {
  const size_t offset = (end_ + kAlign - 1) / kAlign * kAlign;
  end_ = offset + bytes;
  payload_ += bytes;
  return offset;
}

size_t DeviceArenaPlan::add_copy(const void* src, size_t bytes) {
  const size_t offset = place(bytes);
  if (bytes) pieces_.push_back({offset, bytes, src, {}});
  return offset;
}

size_t DeviceArenaPlan::add_filled(size_t bytes, std::function<void(std::byte*)> fill) {
  const size_t offset = place(bytes);
  if (bytes) pieces_.push_back({offset, bytes, nullptr, std::move(fill)});
  return offset;
}

cuda::DeviceBuffer DeviceArenaPlan::allocate_and_upload() const {
  cuda::DeviceBuffer arena(end_);
  size_t staging_bytes = 0;
  for (const Piece& p : pieces_)
    if (p.fill) staging_bytes = std::max(staging_bytes, p.bytes);
  std::vector<std::byte> staging(staging_bytes ? staging_bytes + 64 : 0);
  std::byte* aligned = staging.empty() ? nullptr : staging.data() + (64 - reinterpret_cast<uintptr_t>(staging.data()) % 64) % 64;
  for (const Piece& p : pieces_) {
    if (p.fill) {
      p.fill(aligned);
      arena.upload(aligned, p.bytes, p.offset);
    } else {
      arena.upload(p.src, p.bytes, p.offset);
    }
  }
  return arena;
}

namespace {

// The type a matrix is held in on the device.
GgmlType device_type(GgmlType t) { return cuda::gemv_supports(t) ? t : GgmlType::F32; }

// Counts tensors converted to F32, for the backend's description.
class Conversions {
 public:
  void add(const std::string& what, GgmlType from) { ++count_[what + " (" + std::string(traits(from).name) + ")"]; }
  std::string describe() const {
    if (count_.empty()) return {};
    std::string s = "stored as F32 (the GPU kernels do not read their type):";
    for (const auto& [what, n] : count_) s += (s.back() == ':' ? " " : ", ") + (n > 1 ? std::to_string(n) + " x " : std::string()) + what;
    return s;
  }

 private:
  std::map<std::string, int> count_;
};

// The whole matrix: its stored bytes, or its rows dequantized to F32.
DeviceMatrix plan_matrix(DeviceArenaPlan& arena, const WeightMatrix& m, const std::string& what, Conversions& conv) {
  DeviceMatrix d{device_type(m.type), m.rows, m.cols, 0, 0};
  if (d.type == m.type) {
    d.row_stride = m.row_stride;
    d.offset = arena.add_copy(m.data, m.bytes());
    return d;
  }
  conv.add(what, m.type);
  d.row_stride = static_cast<size_t>(row_bytes(d.type, m.cols));
  d.offset = arena.add_filled(d.bytes(), [m, stride = d.row_stride](std::byte* dst) {
    for (int64_t r = 0; r < m.rows; ++r) dequantize_row(m.type, m.row(r), reinterpret_cast<float*>(dst + static_cast<size_t>(r) * stride), m.cols);
  });
  return d;
}

// Rows `cover` of m (gate or up), gathered.
DeviceMatrix plan_rows(DeviceArenaPlan& arena, const WeightMatrix& m, const std::vector<int32_t>& cover, const std::string& what,
                       Conversions& conv) {
  if (static_cast<int64_t>(cover.size()) == m.rows) return plan_matrix(arena, m, what, conv);  // all of them, in order
  DeviceMatrix d{device_type(m.type), static_cast<int64_t>(cover.size()), m.cols, 0, 0};
  d.row_stride = static_cast<size_t>(row_bytes(d.type, m.cols));
  if (d.type != m.type) conv.add(what, m.type);
  d.offset = arena.add_filled(d.bytes(), [m, cover, type = d.type, stride = d.row_stride](std::byte* dst) {
    for (size_t k = 0; k < cover.size(); ++k) {
      std::byte* out = dst + k * stride;
      if (type == m.type) std::memcpy(out, m.row(cover[k]), stride);
      else dequantize_row(m.type, m.row(cover[k]), reinterpret_cast<float*>(out), m.cols);
    }
  });
  return d;
}

// Columns `cover` of m (down, [d_model][d_ff]), gathered: cover is made of whole blocks of
// the device type, so a quantized row's blocks are copied as they are.
DeviceMatrix plan_columns(DeviceArenaPlan& arena, const WeightMatrix& m, const std::vector<int32_t>& cover, const std::string& what,
                          Conversions& conv) {
  if (static_cast<int64_t>(cover.size()) == m.cols) return plan_matrix(arena, m, what, conv);
  DeviceMatrix d{device_type(m.type), m.rows, static_cast<int64_t>(cover.size()), 0, 0};
  d.row_stride = static_cast<size_t>(row_bytes(d.type, d.cols));
  if (d.type != m.type) conv.add(what, m.type);
  d.offset = arena.add_filled(d.bytes(), [m, cover, type = d.type, stride = d.row_stride](std::byte* dst) {
    const TypeTraits t = traits(type);
    const auto block = static_cast<size_t>(t.block_elems), block_bytes = static_cast<size_t>(t.block_bytes);
    std::vector<float> row(type == m.type ? 0 : static_cast<size_t>(m.cols));
    for (int64_t r = 0; r < m.rows; ++r) {
      std::byte* out = dst + static_cast<size_t>(r) * stride;
      if (type == m.type) {
        for (size_t k = 0; k < cover.size(); k += block)
          std::memcpy(out + k / block * block_bytes, m.row(r) + static_cast<size_t>(cover[k]) / block * block_bytes, block_bytes);
      } else {
        dequantize_row(m.type, m.row(r), row.data(), m.cols);
        auto* f = reinterpret_cast<float*>(out);
        for (size_t k = 0; k < cover.size(); ++k) f[k] = row[static_cast<size_t>(cover[k])];
      }
    }
  });
  return d;
}

// The hot neurons widened to whole blocks of down's device type.
std::vector<int32_t> cover_of(const std::vector<int32_t>& hot, int64_t block, int32_t d_ff) {
  std::vector<int32_t> cover;
  int32_t end = 0;
  for (int32_t g : hot) {
    if (g < end) continue;  // inside the last block taken
    const auto b0 = static_cast<int32_t>(g / block * block);
    end = static_cast<int32_t>(std::min<int64_t>(d_ff, b0 + block));
    for (int32_t i = b0; i < end; ++i) cover.push_back(i);
  }
  return cover;
}

DeviceDenseFfn plan_dense_ffn(DeviceArenaPlan& arena, const ModelWeights& w, int layer, const std::vector<int32_t>& hot, Conversions& conv) {
  const LayerWeights& L = w.layers()[static_cast<size_t>(layer)];
  const int32_t d_ff = w.config().d_ff;
  DeviceDenseFfn f;
  f.cover = cover_of(hot, traits(device_type(L.down.type)).block_elems, d_ff);
  f.position.assign(static_cast<size_t>(d_ff), -1);
  for (size_t k = 0; k < f.cover.size(); ++k) f.position[static_cast<size_t>(f.cover[k])] = static_cast<int32_t>(k);
  if (f.cover.empty()) return f;  // nothing hot in this layer
  if (L.gate.rows > 0) f.gate = plan_rows(arena, L.gate, f.cover, "ffn_gate", conv);
  f.up = plan_rows(arena, L.up, f.cover, "ffn_up", conv);
  f.down = plan_columns(arena, L.down, f.cover, "ffn_down", conv);
  return f;
}

// An F32 copy of a matrix (for bundles of a type the kernels do not read).
WeightMatrix f32_copy(const WeightMatrix& m, std::vector<float>& storage) {
  storage.resize(static_cast<size_t>(m.rows * m.cols));
  for (int64_t r = 0; r < m.rows; ++r) dequantize_row(m.type, m.row(r), storage.data() + static_cast<size_t>(r * m.cols), m.cols);
  WeightMatrix c = m;
  c.type = GgmlType::F32;
  c.row_stride = static_cast<size_t>(m.cols) * sizeof(float);
  c.data = reinterpret_cast<const std::byte*>(storage.data());
  return c;
}

DeviceSparseFfn plan_sparse_ffn(DeviceArenaPlan& arena, const ModelWeights& w, int layer, const std::vector<int32_t>& hot, Conversions& conv) {
  const FfnWeights f = FfnWeights::of_layer(w, layer);
  const bool convert = device_type(f.up.type) != f.up.type;  // NeuronBundles needs gate and up of one type
  FfnWeights shape = f;  // the records' layout (sizes only)
  if (convert) {
    for (WeightMatrix* m : {&shape.gate, &shape.up}) {
      if (m->rows == 0) continue;
      conv.add(m == &shape.gate ? "ffn_gate" : "ffn_up", m->type);
      m->type = GgmlType::F32;
      m->row_stride = static_cast<size_t>(m->cols) * sizeof(float);
    }
  }
  DeviceSparseFfn s;
  s.n = static_cast<int64_t>(hot.size());
  s.gated = f.gate.rows > 0;
  s.gate_up_type = shape.up.type;
  s.down_t_type = NeuronBundles::down_t_type_for(f.down.type);
  s.gate_up_row_bytes = static_cast<size_t>(row_bytes(s.gate_up_type, f.d_model()));
  s.record_bytes = NeuronBundles::record_bytes_for(shape);
  s.used_record_bytes = (s.gated ? 2 : 1) * s.gate_up_row_bytes + static_cast<size_t>(row_bytes(s.down_t_type, f.d_model()));
  s.local.assign(static_cast<size_t>(w.config().d_ff), -1);
  for (size_t k = 0; k < hot.size(); ++k) s.local[static_cast<size_t>(hot[k])] = static_cast<int32_t>(k);
  const size_t bytes = s.record_bytes * hot.size();
  s.offset = arena.add_filled(bytes, [f, hot, convert, bytes, record = s.record_bytes](std::byte* dst) {
    FfnWeights src = f;
    std::vector<float> gate, up;
    if (convert) {
      if (src.gate.rows > 0) src.gate = f32_copy(f.gate, gate);
      src.up = f32_copy(f.up, up);
    }
    const NeuronBundles b(src, hot, std::span<std::byte>(dst, bytes), BlockLayout::Stored);  // the kernels read ggml blocks
    if (b.record_bytes() != record) throw std::logic_error("cuda backend: neuron bundle records differ from the plan");
  });
  return s;
}

void check_hot_neurons(const ModelConfig& c, const std::vector<std::vector<int32_t>>& hot) {
  if (static_cast<int>(hot.size()) != c.n_layers)
    throw std::invalid_argument("cuda backend: hot neurons given for " + std::to_string(hot.size()) + " layers, the model has " +
                                std::to_string(c.n_layers));
  for (size_t l = 0; l < hot.size(); ++l)
    for (size_t k = 0; k < hot[l].size(); ++k)
      if (hot[l][k] < 0 || hot[l][k] >= c.d_ff || (k > 0 && hot[l][k] <= hot[l][k - 1]))
        throw std::invalid_argument("cuda backend: the hot neurons of layer " + std::to_string(l) + " are not increasing indices below d_ff " +
                                    std::to_string(c.d_ff));
}

size_t add_vector(DeviceArenaPlan& arena, const std::vector<float>& v) {
  return v.empty() ? kNoVector : arena.add_copy(v.data(), v.size() * sizeof(float));
}

}  // namespace

DeviceModel plan_device_model(const ModelWeights& w, const BackendOptions& o, DeviceArenaPlan& arena) {
  const ModelConfig& c = w.config();
  check_hot_neurons(c, o.hot_neurons);
  Conversions conv;
  DeviceModel m;
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& L = w.layers()[static_cast<size_t>(l)];
    DeviceAttention a;
    a.wq = plan_matrix(arena, L.wq, "attn_q", conv);
    a.wk = plan_matrix(arena, L.wk, "attn_k", conv);
    a.wv = plan_matrix(arena, L.wv, "attn_v", conv);
    a.wo = plan_matrix(arena, L.wo, "attn_output", conv);
    a.attn_norm = add_vector(arena, L.attn_norm);
    a.ffn_norm = add_vector(arena, L.ffn_norm);
    a.q_norm = add_vector(arena, L.attn_q_norm);
    a.k_norm = add_vector(arena, L.attn_k_norm);
    a.post_attn_norm = add_vector(arena, L.post_attn_norm);
    a.bq = add_vector(arena, L.bq);
    a.bk = add_vector(arena, L.bk);
    a.bv = add_vector(arena, L.bv);
    a.bo = add_vector(arena, L.bo);
    m.footprint.attention += a.wq.bytes() + a.wk.bytes() + a.wv.bytes() + a.wo.bytes() +
                             (L.attn_norm.size() + L.ffn_norm.size() + L.bq.size() + L.bk.size() + L.bv.size() + L.bo.size() + L.attn_q_norm.size() +
                              L.attn_k_norm.size() + L.post_attn_norm.size()) * sizeof(float);
    m.attention.push_back(a);

    const std::vector<int32_t>& hot = o.hot_neurons[static_cast<size_t>(l)];
    if (o.sparse) {
      DeviceSparseFfn s = plan_sparse_ffn(arena, w, l, hot, conv);
      m.footprint.hot_ffn += s.record_bytes * static_cast<size_t>(s.n);
      m.max_hot = std::max(m.max_hot, s.n);
      m.sparse.push_back(std::move(s));
    } else {
      DeviceDenseFfn d = plan_dense_ffn(arena, w, l, hot, conv);
      m.footprint.hot_ffn += d.gate.bytes() + d.up.bytes() + d.down.bytes();
      m.max_cover = std::max<int64_t>(m.max_cover, static_cast<int64_t>(d.cover.size()));
      m.dense.push_back(std::move(d));
    }
  }
  m.output = plan_matrix(arena, w.output(), "output", conv);
  m.output_norm = arena.add_copy(w.output_norm().data(), w.output_norm().size() * sizeof(float));
  m.footprint.lm_head = m.output.bytes() + w.output_norm().size() * sizeof(float);

  if (o.predictors) {
    const NeuronPredictors& p = *o.predictors;
    if (p.n_layers() != c.n_layers || p.d_model() != c.d_model || p.d_ff() != c.d_ff)
      throw std::invalid_argument("cuda backend: the predictors do not fit this model's shape");
    for (int l = 0; l < c.n_layers; ++l) {
      const PredictorLayer& P = p.layer(l);
      DevicePredictor d;
      d.fc1 = {GgmlType::Q8_0, P.rank, P.d_model, static_cast<size_t>(row_bytes(GgmlType::Q8_0, P.d_model)), 0};
      d.fc2 = {GgmlType::Q8_0, P.d_ff, P.rank, static_cast<size_t>(row_bytes(GgmlType::Q8_0, P.rank)), 0};
      if (d.fc1.bytes() != P.fc1.size() || d.fc2.bytes() != P.fc2.size()) throw std::invalid_argument("cuda backend: predictor layer " + std::to_string(l) + " has the wrong size");
      d.fc1.offset = arena.add_copy(P.fc1.data(), P.fc1.size());
      d.fc2.offset = arena.add_copy(P.fc2.data(), P.fc2.size());
      d.bias = arena.add_copy(P.bias.data(), P.bias.size() * sizeof(float));
      m.footprint.predictors += P.bytes();
      m.max_rank = std::max<int64_t>(m.max_rank, P.rank);
      m.predictors.push_back(d);
    }
  }
  m.converted = conv.describe();
  return m;
}

}  // namespace actinfer
