#include "model/powerinfer_predictors.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/dequantize.h"
#include "kernels/quantize.h"

namespace actinfer {

std::optional<NeuronPredictors> predictors_in_model(const ModelWeights& w) {
  const GgufFile& f = w.file();
  const ModelConfig& c = w.config();
  if (!f.find_tensor("blk.0.fc1.weight")) return std::nullopt;
  auto bad = [&](const std::string& why) {
    return std::invalid_argument(f.path().string() + ": PowerInfer predictor tensors: " + why);
  };
  if (c.d_model % 32 != 0) throw bad("d_model " + std::to_string(c.d_model) + " is not a multiple of 32 (Q8_0 predictor rows)");
  const float threshold = static_cast<float>(f.get_float("powerinfer.sparse_threshold").value_or(0.0));
  if (!std::isfinite(threshold)) throw bad("powerinfer.sparse_threshold is not finite");
  const int64_t d = c.d_model, ff = c.d_ff;
  std::vector<PredictorLayer> layers;
  std::vector<PredictorLayerInfo> info;
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    const TensorInfo* fc1 = f.find_tensor(p + "fc1.weight");
    const TensorInfo* fc2 = f.find_tensor(p + "fc2.weight");
    if (!fc1 || !fc2) throw bad("layer " + std::to_string(l) + " lacks fc1.weight or fc2.weight");
    if (fc1->shape.size() != 2 || fc1->shape[0] != d || fc1->shape[1] < 1 || fc1->shape[1] > d * 64)
      throw bad("'" + fc1->name + "' has shape " + shape_string(fc1->shape) + ", expected [" + std::to_string(d) + ", rank]");
    const int64_t rank = fc1->shape[1];
    if (fc2->shape != std::vector<int64_t>{rank, ff})
      throw bad("'" + fc2->name + "' has shape " + shape_string(fc2->shape) + ", expected [" + std::to_string(rank) + ", " + std::to_string(ff) + "]");
    for (const TensorInfo* t : {fc1, fc2})
      if (t->type != GgmlType::F32 && t->type != GgmlType::F16 && t->type != GgmlType::BF16)
        throw bad("'" + t->name + "' is " + std::string(type_name(t->type)) + " (PowerInfer writes F16 or F32)");
    const int64_t padded = (rank + 31) / 32 * 32;
    const std::vector<float>& norm = w.layers()[static_cast<size_t>(l)].ffn_norm;

    PredictorLayer L;
    L.d_model = static_cast<int>(d);
    L.d_ff = static_cast<int>(ff);
    L.rank = static_cast<int>(padded);
    const size_t fc1_row = static_cast<size_t>(row_bytes(GgmlType::Q8_0, d));
    const size_t fc2_row = static_cast<size_t>(row_bytes(GgmlType::Q8_0, padded));
    L.fc1.assign(static_cast<size_t>(padded) * fc1_row, std::byte{0});  // zero rows: hidden 0
    L.fc2.resize(static_cast<size_t>(ff) * fc2_row);
    std::vector<float> row(static_cast<size_t>(std::max(d, padded)), 0.0f);
    const std::byte* src1 = f.tensor_data(*fc1).data();
    const size_t src1_row = static_cast<size_t>(row_bytes(fc1->type, d));
    for (int64_t r = 0; r < rank; ++r) {
      dequantize_row(fc1->type, src1 + static_cast<size_t>(r) * src1_row, row.data(), d);
      for (int64_t j = 0; j < d; ++j) row[static_cast<size_t>(j)] = norm[static_cast<size_t>(j)] != 0.0f ? row[static_cast<size_t>(j)] / norm[static_cast<size_t>(j)] : 0.0f;
      quantize_row(GgmlType::Q8_0, row.data(), L.fc1.data() + static_cast<size_t>(r) * fc1_row, d);
    }
    const std::byte* src2 = f.tensor_data(*fc2).data();
    const size_t src2_row = static_cast<size_t>(row_bytes(fc2->type, rank));
    for (int64_t n = 0; n < ff; ++n) {
      std::fill(row.begin(), row.begin() + padded, 0.0f);
      dequantize_row(fc2->type, src2 + static_cast<size_t>(n) * src2_row, row.data(), rank);
      quantize_row(GgmlType::Q8_0, row.data(), L.fc2.data() + static_cast<size_t>(n) * fc2_row, padded);
    }
    L.bias.assign(static_cast<size_t>(ff), -threshold);
    layers.push_back(std::move(L));
    const float nan = std::numeric_limits<float>::quiet_NaN();
    info.push_back({c.activation == Activation::ReLU ? 0.0f : nan, nan, nan, nan, nan});
  }
  return NeuronPredictors(c, std::move(layers), std::move(info), std::numeric_limits<double>::quiet_NaN());
}

}  // namespace actinfer
