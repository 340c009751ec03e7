#include "model/profile_file.h"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "model/gguf_file.h"
#include "model/gguf_writer.h"
#include "model/model_fingerprint.h"

namespace actinfer {

ActivationProfile load_profile(const std::filesystem::path& path, const ModelConfig& c) {
  const GgufFile f = GgufFile::open(path);
  auto bad = [&](const std::string& why) { return std::runtime_error(path.string() + ": profile " + why); };
  const auto layers = f.get_int("actinfer.profile.block_count");
  const auto neurons = f.get_int("actinfer.profile.feed_forward_length");
  const auto n_tokens = f.get_int("actinfer.profile.n_tokens");
  const auto act = f.get_string("actinfer.profile.activation");
  const auto sparsity = f.get_float("actinfer.profile.target_sparsity");
  if (!layers || !neurons) throw bad("lacks actinfer.profile.block_count / feed_forward_length (not a profile file?)");
  if (*layers != c.n_layers || *neurons != c.d_ff)
    throw bad("is for a model with " + std::to_string(*layers) + " layers x " + std::to_string(*neurons) +
              " FFN neurons, this model has " + std::to_string(c.n_layers) + " x " + std::to_string(c.d_ff));
  if (!n_tokens || *n_tokens < 0) throw bad("lacks actinfer.profile.n_tokens");
  if (!act) throw bad("lacks actinfer.profile.activation");
  const auto activation = parse_activation(*act);
  if (!activation) throw bad("has an unknown activation '" + std::string(*act) + "'");
  if (*activation != c.activation)
    throw bad("was measured with activation " + std::string(*act) + ", this model uses " + std::string(activation_name(c.activation)));
  if (auto other = model_fingerprint_mismatch(f, c, "profile")) throw std::runtime_error(path.string() + ": " + *other);
  ActivationProfile p;
  p.n_tokens = *n_tokens;
  p.activation = *activation;
  p.target_sparsity = sparsity.value_or(0.0);
  if (!(p.target_sparsity >= 0 && p.target_sparsity < 1))
    throw bad("has a target sparsity " + std::to_string(p.target_sparsity) + " outside [0, 1)");
  // Written since per-layer allocation; older files are uniform, their levels unrecorded.
  if (const auto alloc = f.get_string("actinfer.profile.allocation")) {
    const auto a = parse_allocation(*alloc);
    if (!a) throw bad("has an unknown allocation '" + std::string(*alloc) + "' (not uniform or sensitivity)");
    p.allocation = *a;
  }
  if (const auto levels = f.get_float_array("actinfer.profile.layer_sparsity")) {
    if (static_cast<int>(levels->size()) != c.n_layers)
      throw bad("has " + std::to_string(levels->size()) + " per-layer sparsity levels for " + std::to_string(c.n_layers) + " layers");
    for (float v : *levels) {
      if (!(v >= 0 && v < 1)) throw bad("has a per-layer sparsity level " + std::to_string(v) + " outside [0, 1)");
      p.layer_targets.push_back(v);
    }
  }
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string name = "blk." + std::to_string(l) + ".act_count";
    const TensorInfo* t = f.find_tensor(name);
    if (!t) throw bad("has no tensor '" + name + "'");
    if (t->type != GgmlType::F32 || t->shape != std::vector<int64_t>{c.d_ff})
      throw bad("tensor '" + name + "' must be F32 [" + std::to_string(c.d_ff) + "]");
    const std::vector<float> v = f.f32_values(*t);
    std::vector<uint32_t> counts(static_cast<size_t>(c.d_ff));
    for (int i = 0; i < c.d_ff; ++i) {
      if (!(v[i] >= 0) || v[i] > static_cast<float>(p.n_tokens) || v[i] > 4294967295.0f || v[i] != std::floor(v[i]))
        throw bad("tensor '" + name + "' holds " + std::to_string(v[i]) + ", not a count of 0.." + std::to_string(p.n_tokens) + " tokens");
      counts[static_cast<size_t>(i)] = static_cast<uint32_t>(v[i]);
    }
    p.fired.push_back(std::move(counts));
    const std::string tname = "blk." + std::to_string(l) + ".act_threshold";
    const TensorInfo* th = f.find_tensor(tname);
    if (!th) throw bad("has no tensor '" + tname + "'");
    if (th->type != GgmlType::F32 || th->shape != std::vector<int64_t>{1}) throw bad("tensor '" + tname + "' must be F32 [1]");
    float threshold = 0;
    std::memcpy(&threshold, f.tensor_data(*th).data(), sizeof threshold);
    // A threshold on |activation|: NaN or +inf switches every neuron off, a negative one every neuron on.
    if (!std::isfinite(threshold) || threshold < 0)
      throw bad("tensor '" + tname + "' holds " + std::to_string(threshold) + ", not a finite threshold >= 0");
    p.thresholds.push_back(threshold);
  }
  return p;
}

void write_profile(const std::filesystem::path& path, const ModelConfig& c, const ActivationProfile& p) {
  if (static_cast<int>(p.fired.size()) != c.n_layers || static_cast<int>(p.thresholds.size()) != c.n_layers)
    throw std::invalid_argument("profile has the wrong number of layers");
  GgufWriter w;
  w.add_string("general.architecture", "actinfer-profile");
  add_model_fingerprint(w, c);
  w.add_u64("actinfer.profile.n_tokens", static_cast<uint64_t>(p.n_tokens));
  w.add_u32("actinfer.profile.block_count", static_cast<uint32_t>(c.n_layers));
  w.add_u32("actinfer.profile.feed_forward_length", static_cast<uint32_t>(c.d_ff));
  w.add_string("actinfer.profile.activation", activation_name(p.activation));
  w.add_f64("actinfer.profile.target_sparsity", p.target_sparsity);
  w.add_string("actinfer.profile.allocation", allocation_name(p.allocation));
  if (!p.layer_targets.empty()) {
    if (static_cast<int>(p.layer_targets.size()) != c.n_layers) throw std::invalid_argument("profile has the wrong number of per-layer levels");
    const std::vector<float> levels(p.layer_targets.begin(), p.layer_targets.end());
    w.add_f32_array("actinfer.profile.layer_sparsity", levels);
  }
  for (int l = 0; l < c.n_layers; ++l) {
    const auto& counts = p.fired[static_cast<size_t>(l)];
    if (static_cast<int>(counts.size()) != c.d_ff) throw std::invalid_argument("profile layer " + std::to_string(l) + " has the wrong size");
    std::vector<float> v(counts.begin(), counts.end());
    w.add_tensor_f32("blk." + std::to_string(l) + ".act_count", {c.d_ff}, v);
    const float thr = p.thresholds[static_cast<size_t>(l)];
    w.add_tensor_f32("blk." + std::to_string(l) + ".act_threshold", {1}, std::span<const float>(&thr, 1));
  }
  w.write(path);
}

}  // namespace actinfer
