#include "model/predictor_file.h"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "model/gguf_file.h"
#include "model/gguf_writer.h"
#include "model/model_fingerprint.h"

namespace actinfer {
namespace {

constexpr std::string_view kArch = "actinfer-predictor";

std::string shape_text(int layers, int d, int ff) {
  return std::to_string(layers) + " layers, d_model " + std::to_string(d) + ", d_ff " + std::to_string(ff);
}

NeuronPredictors read(const GgufFile& f, const std::filesystem::path& path, const ModelConfig& c) {
  auto bad = [&](const std::string& why) { return std::invalid_argument(path.string() + ": " + why); };
  const auto arch = f.get_string("general.architecture");
  const auto layers = f.get_int("actinfer.predictor.block_count");
  if (!arch || *arch != kArch || !layers)
    throw bad("not a predictor file (general.architecture is '" + std::string(arch.value_or("")) +
              "', not 'actinfer-predictor'; `actinfer train-predictor` writes one)");
  const auto d = f.get_int("actinfer.predictor.embedding_length");
  const auto ff = f.get_int("actinfer.predictor.feed_forward_length");
  if (!d || !ff) throw bad("predictor file lacks actinfer.predictor.embedding_length / feed_forward_length");
  if (*layers != c.n_layers || *d != c.d_model || *ff != c.d_ff)
    throw bad("predictors are for a model with " + shape_text(static_cast<int>(*layers), static_cast<int>(*d), static_cast<int>(*ff)) +
              "; this model has " + shape_text(c.n_layers, c.d_model, c.d_ff));
  const auto act = f.get_string("actinfer.predictor.activation");
  if (!act) throw bad("predictor file lacks actinfer.predictor.activation");
  const auto activation = parse_activation(*act);
  if (!activation) throw bad("predictor file has an unknown activation '" + std::string(*act) + "'");
  if (*activation != c.activation)
    throw bad("predictors were trained for activation " + std::string(activation_name(*activation)) + ", this model uses " +
              std::string(activation_name(c.activation)));
  if (auto other = model_fingerprint_mismatch(f, c, "predictor file")) throw bad(*other);
  const size_t L = static_cast<size_t>(c.n_layers);
  auto layer_array = [&](const char* key) {
    const std::string k = std::string("actinfer.predictor.") + key;
    auto v = f.get_float_array(k);
    if (!v || v->size() != L) throw bad("predictor file needs " + k + " with one value per layer (" + std::to_string(L) + ")");
    return *v;
  };
  const auto thr = layer_array("threshold"), recall = layer_array("recall"), precision = layer_array("precision"),
             predicted = layer_array("predicted_active"), truth = layer_array("true_active");
  for (size_t l = 0; l < L; ++l) {
    // The threshold decides what fires: NaN would silently switch every neuron off.
    if (!std::isfinite(thr[l]) || thr[l] < 0)
      throw bad("layer " + std::to_string(l) + " threshold " + std::to_string(thr[l]) + " is not a finite number >= 0");
    for (const auto* v : {&recall, &precision, &predicted, &truth})
      if (!std::isfinite((*v)[l])) throw bad("layer " + std::to_string(l) + " has a non-finite measurement");
  }
  if (const auto target = f.get_float("actinfer.predictor.target_recall"); target && !(*target >= 0 && *target <= 1))
    throw bad("actinfer.predictor.target_recall " + std::to_string(*target) + " is not in [0, 1]");
  std::vector<PredictorLayer> out(L);
  std::vector<PredictorLayerInfo> info(L);
  for (size_t l = 0; l < L; ++l) {
    const std::string blk = "blk." + std::to_string(l) + ".";
    auto tensor = [&](const std::string& name, GgmlType type, size_t dims) -> const TensorInfo& {
      const TensorInfo* t = f.find_tensor(blk + name);
      if (!t) throw bad("predictor file has no tensor '" + blk + name + "'");
      if (t->type != type || t->shape.size() != dims)
        throw bad("tensor '" + blk + name + "' must be " + std::string(traits(type).name) + " with " + std::to_string(dims) +
                  " dimension(s), not " + std::string(traits(t->type).name) + " " + shape_string(t->shape));
      return *t;
    };
    const TensorInfo& fc1 = tensor("fc1.weight", GgmlType::Q8_0, 2);
    const TensorInfo& fc2 = tensor("fc2.weight", GgmlType::Q8_0, 2);
    const TensorInfo& bias = tensor("fc2.bias", GgmlType::F32, 1);
    const int64_t rank = fc1.shape[1];
    if (fc1.shape[0] != c.d_model || fc2.shape != std::vector<int64_t>{rank, c.d_ff} || bias.shape[0] != c.d_ff)
      throw bad("layer " + std::to_string(l) + " tensors " + shape_string(fc1.shape) + ", " + shape_string(fc2.shape) + ", " +
                shape_string(bias.shape) + " do not fit d_model " + std::to_string(c.d_model) + " and d_ff " + std::to_string(c.d_ff) +
                " (expected [d_model, rank], [rank, d_ff], [d_ff])");
    PredictorLayer& p = out[l];
    p.d_model = c.d_model;
    p.d_ff = c.d_ff;
    p.rank = static_cast<int>(rank);
    const auto copy = [&](const TensorInfo& t) {
      const auto s = f.tensor_data(t);
      return std::vector<std::byte>(s.begin(), s.end());
    };
    p.fc1 = copy(fc1);
    p.fc2 = copy(fc2);
    p.bias.resize(static_cast<size_t>(c.d_ff));
    std::memcpy(p.bias.data(), f.tensor_data(bias).data(), p.bias.size() * sizeof(float));
    try {
      p.check();
    } catch (const std::invalid_argument& e) {
      throw bad("layer " + std::to_string(l) + ": " + e.what());
    }
    info[l] = {thr[l], recall[l], precision[l], predicted[l], truth[l]};
  }
  return NeuronPredictors(c, std::move(out), std::move(info), f.get_float("actinfer.predictor.target_recall").value_or(0.0));
}

}  // namespace

NeuronPredictors read_predictor_file(const std::filesystem::path& path, const ModelConfig& c) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw std::invalid_argument("predictor file '" + path.string() + "' not found (`actinfer train-predictor` writes one)");
  try {
    return read(GgufFile::open(path), path, c);
  } catch (const GgufError& e) {
    // Truncated or corrupt GGUF, or metadata of the wrong type.
    throw std::invalid_argument(std::string("not a readable predictor file: ") + e.what());
  }
}

void write_predictor_file(const std::filesystem::path& path, const NeuronPredictors& p) {
  GgufWriter w;
  w.add_string("general.architecture", kArch);
  if (!p.model_fingerprint().empty()) w.add_string(std::string(kModelFingerprintKey), p.model_fingerprint());
  w.add_u32("actinfer.predictor.block_count", static_cast<uint32_t>(p.n_layers()));
  w.add_u32("actinfer.predictor.embedding_length", static_cast<uint32_t>(p.d_model()));
  w.add_u32("actinfer.predictor.feed_forward_length", static_cast<uint32_t>(p.d_ff()));
  w.add_string("actinfer.predictor.activation", activation_name(p.activation()));
  w.add_string("actinfer.predictor.input", "ffn_norm");
  w.add_f64("actinfer.predictor.target_recall", p.target_recall());
  std::vector<float> thr, recall, precision, predicted, truth;
  for (int l = 0; l < p.n_layers(); ++l) {
    const PredictorLayerInfo& i = p.info(l);
    thr.push_back(i.threshold);
    recall.push_back(i.recall);
    precision.push_back(i.precision);
    predicted.push_back(i.predicted_active);
    truth.push_back(i.true_active);
  }
  w.add_f32_array("actinfer.predictor.threshold", thr);
  w.add_f32_array("actinfer.predictor.recall", recall);
  w.add_f32_array("actinfer.predictor.precision", precision);
  w.add_f32_array("actinfer.predictor.predicted_active", predicted);
  w.add_f32_array("actinfer.predictor.true_active", truth);
  for (int l = 0; l < p.n_layers(); ++l) {
    const PredictorLayer& L = p.layer(l);
    const std::string blk = "blk." + std::to_string(l) + ".";
    w.add_tensor(blk + "fc1.weight", GgmlType::Q8_0, {L.d_model, L.rank}, L.fc1);
    w.add_tensor(blk + "fc2.weight", GgmlType::Q8_0, {L.rank, L.d_ff}, L.fc2);
    w.add_tensor_f32(blk + "fc2.bias", {L.d_ff}, L.bias);
  }
  w.write(path);
}

NeuronPredictors NeuronPredictors::load(const std::filesystem::path& path, const ModelConfig& model) {
  return read_predictor_file(path, model);
}

void NeuronPredictors::save(const std::filesystem::path& path) const { write_predictor_file(path, *this); }

}  // namespace actinfer
