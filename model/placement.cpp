#include "model/placement.h"

#include <cstring>
#include <stdexcept>
#include <string>

#include "model/gguf_file.h"
#include "model/gguf_writer.h"
#include "model/model_fingerprint.h"

namespace actinfer {

int64_t Placement::n_hot() const {
  int64_t n = 0;
  for (const auto& layer : hot)
    for (uint8_t f : layer) n += f;
  return n;
}

namespace {

// PowerInfer's GPU index (powerinfer-py export_split.py): PWRI magic, general.architecture
// "generic.gpu_index", one I32 tensor blk.N.gpu_idx of d_ff 0/1 flags per layer (and, in
// some versions, blk.N.gpu_bucket: the sorted hot indices, which say the same).
Placement load_powerinfer_index(const GgufFile& f, const std::filesystem::path& path, const ModelConfig& c) {
  auto bad = [&](const std::string& why) { return std::runtime_error(path.string() + ": PowerInfer GPU index " + why); };
  if (auto n = f.get_int("generic.gpu_index.block_count"); n && *n != c.n_layers)
    throw bad("has " + std::to_string(*n) + " layers, this model has " + std::to_string(c.n_layers));
  Placement p;
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string name = "blk." + std::to_string(l) + ".gpu_idx";
    const TensorInfo* t = f.find_tensor(name);
    if (!t) throw bad("has no tensor '" + name + "'");
    if (t->type != GgmlType::I32 || t->shape != std::vector<int64_t>{c.d_ff})
      throw bad("tensor '" + name + "' must be I32 [" + std::to_string(c.d_ff) + "] (this model's FFN neurons)");
    const auto bytes = f.tensor_data(*t);
    std::vector<uint8_t> flags(static_cast<size_t>(c.d_ff));
    for (int i = 0; i < c.d_ff; ++i) {
      int32_t v;
      std::memcpy(&v, bytes.data() + static_cast<size_t>(i) * 4, 4);
      if (v != 0 && v != 1) throw bad("tensor '" + name + "' holds " + std::to_string(v) + ", not 0 or 1");
      flags[static_cast<size_t>(i)] = static_cast<uint8_t>(v);
    }
    p.hot.push_back(std::move(flags));
  }
  return p;
}

}  // namespace

Placement load_placement(const std::filesystem::path& path, const ModelConfig& c) {
  const GgufFile f = GgufFile::open(path);
  if (f.get_string("general.architecture").value_or("") == "generic.gpu_index") return load_powerinfer_index(f, path, c);
  auto bad = [&](const std::string& why) { return std::runtime_error(path.string() + ": placement " + why); };
  const auto layers = f.get_int("actinfer.placement.block_count");
  const auto neurons = f.get_int("actinfer.placement.feed_forward_length");
  if (!layers || !neurons) throw bad("lacks actinfer.placement.block_count / feed_forward_length (not a placement file?)");
  if (*layers != c.n_layers || *neurons != c.d_ff)
    throw bad("is for a model with " + std::to_string(*layers) + " layers x " + std::to_string(*neurons) +
              " FFN neurons, this model has " + std::to_string(c.n_layers) + " x " + std::to_string(c.d_ff));
  if (auto other = model_fingerprint_mismatch(f, c, "placement")) throw std::runtime_error(path.string() + ": " + *other);
  Placement p;
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string name = "blk." + std::to_string(l) + ".gpu_idx";
    const TensorInfo* t = f.find_tensor(name);
    if (!t) throw bad("has no tensor '" + name + "'");
    // Stored as F32 0/1 values (GGUF has no U8 tensor type this reader accepts).
    if (t->type != GgmlType::F32 || t->shape != std::vector<int64_t>{c.d_ff})
      throw bad("tensor '" + name + "' must be F32 [" + std::to_string(c.d_ff) + "]");
    const std::vector<float> v = f.f32_values(*t);
    std::vector<uint8_t> flags(static_cast<size_t>(c.d_ff));
    for (int i = 0; i < c.d_ff; ++i) {
      if (v[i] != 0.0f && v[i] != 1.0f) throw bad("tensor '" + name + "' holds " + std::to_string(v[i]) + ", not 0 or 1");
      flags[static_cast<size_t>(i)] = v[i] == 1.0f;
    }
    p.hot.push_back(std::move(flags));
  }
  return p;
}

void write_placement(const std::filesystem::path& path, const ModelConfig& c, const Placement& p) {
  if (static_cast<int>(p.hot.size()) != c.n_layers) throw std::invalid_argument("placement has the wrong number of layers");
  GgufWriter w;
  w.add_string("general.architecture", "actinfer-placement");
  add_model_fingerprint(w, c);
  w.add_u32("actinfer.placement.block_count", static_cast<uint32_t>(c.n_layers));
  w.add_u32("actinfer.placement.feed_forward_length", static_cast<uint32_t>(c.d_ff));
  for (int l = 0; l < c.n_layers; ++l) {
    const auto& flags = p.hot[static_cast<size_t>(l)];
    if (static_cast<int>(flags.size()) != c.d_ff) throw std::invalid_argument("placement layer " + std::to_string(l) + " has the wrong size");
    std::vector<float> v(flags.begin(), flags.end());
    w.add_tensor_f32("blk." + std::to_string(l) + ".gpu_idx", {c.d_ff}, v);
  }
  w.write(path);
}

}  // namespace actinfer
