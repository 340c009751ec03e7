// Neuron bundles (engine/neuron_bundles.h) and the sparse FFN kernel (kernels/sparse_ffn.h)
// against the dense reference ffn_block, on small generated ReLU models (F32, Q8_0, Q4_0):
// all neurons; the oracle active set (gate > 0, computed in plain float here); a random
// subset (ffn_block given the same mask); and 1 vs 2 threads.
//
// Tolerances, as max|y_sparse - y_dense| / max|y_dense| over the d_model outputs:
//   F32: 1e-5 (summation order only).
//   Q8_0 / Q4_0: 1.5e-2. The sparse path re-quantizes down^T to Q8_0 (each value moves by at
//   most 1/254 of its 32-value block's max) and keeps h in float, while ffn_block rounds h to
//   Q8_0 blocks (also 1/254 of a block's max). Measured on these models (2 layers x 4 tokens,
//   all / oracle / random subsets): at most 7.6e-3 (Q8_0) and 6.9e-3 (Q4_0); the bound leaves
//   a 2x margin. Both paths are ~2e-2 from ffn_block with float activations (mostly the shared
//   Q8_0 rounding of xn), the sparse one no further than the dense one.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "engine/layer_ops.h"
#include "engine/neuron_bundles.h"
#include "engine/thread_pool.h"
#include "kernels/dequantize.h"
#include "kernels/fp16.h"
#include "kernels/sparse_ffn.h"
#include "model/model_weights.h"
#include "model/synthetic_model.h"
#include "tests/test_data.h"

using namespace actinfer;

namespace {

std::shared_ptr<const ModelWeights> relu_model(GgmlType type, const std::string& tag, int dim = 128, int ffn = 384) {
  SyntheticModelConfig cfg;
  cfg.n_layers = 2;
  cfg.dim = dim;
  cfg.ffn = ffn;
  cfg.n_heads = 4;
  cfg.n_kv_heads = 2;
  cfg.vocab = 300;
  cfg.type = type;
  cfg.activation = "relu";
  cfg.seed = 29;
  const auto path = testing::test_data_path("sparse_ffn_" + tag + ".gguf");
  write_synthetic_model(cfg, path);
  return ModelWeights::load(path);
}

// ffn_norm of a token's embedding: a realistic FFN input (the bias channel included).
std::vector<float> ffn_input(const ModelWeights& w, int layer, int32_t token) {
  const int64_t d = w.config().d_model;
  std::vector<float> x(static_cast<size_t>(d)), xn(static_cast<size_t>(d));
  dequantize_row(w.token_embedding().type, w.token_embedding().row(token), x.data(), d);
  ffn_norm(w, layer, x.data(), xn.data(), 1);
  return xn;
}

// Neurons whose gate pre-activation is > 0, in plain float from dequantized rows.
std::vector<int32_t> oracle_active(const FfnWeights& f, const std::vector<float>& xn) {
  std::vector<float> row(static_cast<size_t>(f.gate.cols));
  std::vector<int32_t> active;
  for (int64_t i = 0; i < f.gate.rows; ++i) {
    dequantize_row(f.gate.type, f.gate.row(i), row.data(), f.gate.cols);
    double s = 0;
    for (size_t c = 0; c < row.size(); ++c) s += static_cast<double>(row[c]) * xn[c];
    if (s > 0) active.push_back(static_cast<int32_t>(i));
  }
  return active;
}

std::vector<float> dense(const ModelWeights& w, const FfnWeights& f, const std::vector<float>& xn,
                         const std::vector<int32_t>* subset, bool exact = false) {
  ThreadPool pool(1);
  Workspace ws(w.config(), 1, exact);
  std::vector<uint8_t> mask;
  if (subset) {
    mask.assign(static_cast<size_t>(f.n_neurons()), 0);
    for (int32_t i : *subset) mask[static_cast<size_t>(i)] = 1;
  }
  std::vector<float> y(xn.size());
  ffn_block(pool, ws, f, xn.data(), 1, NeuronSlice::all(static_cast<int32_t>(f.n_neurons())), mask, y.data(), false);
  return y;
}

std::vector<float> sparse(int threads, const NeuronBundles& b, const std::vector<float>& xn, const std::vector<int32_t>& active) {
  ThreadPool pool(threads);
  SparseScratch s;
  std::vector<float> y(xn.size(), 123.0f);  // overwritten
  sparse_ffn(pool, b, xn.data(), active, y.data(), s);
  return y;
}

double rel_err(const std::vector<float>& a, const std::vector<float>& ref) {
  double m = 0, e = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    m = std::max(m, std::fabs(static_cast<double>(ref[i])));
    e = std::max(e, std::fabs(static_cast<double>(a[i]) - ref[i]));
  }
  return m > 0 ? e / m : e;
}

std::vector<int32_t> all_neurons(int64_t n) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int32_t i = 0; i < static_cast<int32_t>(n); ++i) v[static_cast<size_t>(i)] = i;
  return v;
}

std::vector<int32_t> random_subset(int64_t n, uint64_t seed, double p) {
  std::vector<int32_t> v;
  for (int32_t i = 0; i < static_cast<int32_t>(n); ++i) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    if (static_cast<double>(seed >> 11) * 0x1.0p-53 < p) v.push_back(i);
  }
  std::reverse(v.begin(), v.end());  // any order is allowed
  return v;
}

void check_type(GgmlType type, const std::string& tag, double tol) {
  const auto w = relu_model(type, tag);
  double worst_all = 0, worst_oracle = 0, worst_subset = 0, worst_threads = 0;
  double worst_vs_exact = 0, dense_vs_exact = 0;
  double active_fraction = 0;
  int n_cases = 0;
  for (int layer = 0; layer < 2; ++layer) {
    const FfnWeights f = FfnWeights::of_layer(*w, layer);
    const NeuronBundles b(f);
    CHECK(reinterpret_cast<uintptr_t>(b.record(0)) % 64 == 0);
    CHECK(b.record_bytes() % 64 == 0);
    CHECK(b.down_t_type() == NeuronBundles::down_t_type_for(f.down.type));
    for (int32_t token : {3, 77, 150, 299}) {
      const auto xn = ffn_input(*w, layer, token);
      const auto y_dense = dense(*w, f, xn, nullptr);
      // (a) all neurons
      const auto y_all = sparse(1, b, xn, all_neurons(f.n_neurons()));
      worst_all = std::max(worst_all, rel_err(y_all, y_dense));
      // For the report: both against ffn_block with float activations (no activation rounding).
      const auto y_exact = dense(*w, f, xn, nullptr, true);
      worst_vs_exact = std::max(worst_vs_exact, rel_err(y_all, y_exact));
      dense_vs_exact = std::max(dense_vs_exact, rel_err(y_dense, y_exact));
      // (b) the oracle set reproduces the dense FFN
      const auto oracle = oracle_active(f, xn);
      active_fraction += static_cast<double>(oracle.size()) / static_cast<double>(f.n_neurons());
      ++n_cases;
      worst_oracle = std::max(worst_oracle, rel_err(sparse(1, b, xn, oracle), y_dense));
      // (c) a random subset equals ffn_block with the same mask
      const auto subset = random_subset(f.n_neurons(), 1000u + static_cast<uint64_t>(token), 0.3);
      const auto y_sub1 = sparse(1, b, xn, subset);
      worst_subset = std::max(worst_subset, rel_err(y_sub1, dense(*w, f, xn, &subset)));
      // (d) 1 vs 2 threads
      worst_threads = std::max(worst_threads, rel_err(sparse(2, b, xn, subset), y_sub1));
      worst_threads = std::max(worst_threads, rel_err(sparse(2, b, xn, oracle), sparse(1, b, xn, oracle)));
    }
  }
  MESSAGE(tag << ": max rel err all " << worst_all << ", oracle " << worst_oracle << ", subset " << worst_subset
              << ", threads " << worst_threads << "; vs float-activation ffn_block: sparse " << worst_vs_exact
              << ", dense " << dense_vs_exact << "; oracle active fraction " << active_fraction / n_cases);
  CHECK(worst_all <= tol);
  CHECK(worst_oracle <= tol);
  CHECK(worst_subset <= tol);
  CHECK(worst_threads <= 1e-5);
  CHECK(active_fraction / n_cases < 0.5);  // the model is sparse: the oracle test means something
}

// Random valid rows of a type without a quantizer here: random bytes with the fp16 scales
// (at these byte offsets of each block) set to finite values of moderate size, either sign.
struct RandomBlocks {
  GgmlType type;
  std::vector<int> fp16_offsets;
};

std::vector<std::byte> random_matrix(const RandomBlocks& rb, int64_t rows, int64_t cols, uint64_t seed) {
  std::vector<std::byte> v(static_cast<size_t>(row_bytes(rb.type, cols) * rows));
  auto next = [&seed] {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    return seed >> 33;
  };
  for (auto& b : v) b = static_cast<std::byte>(next());
  const auto bb = static_cast<size_t>(traits(rb.type).block_bytes);
  for (size_t b = 0; b < v.size() / bb; ++b)
    for (int off : rb.fp16_offsets) {
      const float mag = 0.002f + 0.008f * static_cast<float>(next() % 1000) / 1000.0f;
      const uint16_t h = f32_to_fp16(next() % 2 ? mag : -mag);
      std::memcpy(v.data() + b * bb + static_cast<size_t>(off), &h, 2);
    }
  return v;
}

}  // namespace

TEST_CASE("sparse_ffn matches ffn_block on gate/up/down rows of Q5_0, Q5_1, Q2_K, Q3_K, IQ4_NL, IQ4_XS") {
  // No quantizers for these types here: random blocks of each type replace one layer's FFN of
  // an F32 model of the same shape (d 256, 512 neurons: whole K blocks both ways).
  const auto w = relu_model(GgmlType::F32, "f32_d256", 256, 512);
  const FfnWeights base = FfnWeights::of_layer(*w, 0);
  const int64_t d = base.d_model(), ff = base.n_neurons();
  for (const RandomBlocks& rb : {RandomBlocks{GgmlType::Q5_0, {0}}, RandomBlocks{GgmlType::Q5_1, {0, 2}},
                                 RandomBlocks{GgmlType::Q2_K, {80, 82}}, RandomBlocks{GgmlType::Q3_K, {108}},
                                 RandomBlocks{GgmlType::IQ4_NL, {0}}, RandomBlocks{GgmlType::IQ4_XS, {0}}}) {
    CAPTURE(type_name(rb.type));
    const auto gate = random_matrix(rb, ff, d, 1), up = random_matrix(rb, ff, d, 2), down = random_matrix(rb, d, ff, 3);
    const auto stride = [&](int64_t cols) { return static_cast<size_t>(row_bytes(rb.type, cols)); };
    FfnWeights f = base;
    f.gate = WeightMatrix{rb.type, ff, d, gate.data(), stride(d)};
    f.up = WeightMatrix{rb.type, ff, d, up.data(), stride(d)};
    f.down = WeightMatrix{rb.type, d, ff, down.data(), stride(ff)};
    const NeuronBundles b(f);
    CHECK(b.gate_up_type() == rb.type);
    CHECK(b.down_t_type() == GgmlType::Q8_0);
    double worst_all = 0, worst_oracle = 0, worst_subset = 0, sparse_vs_exact = 0, dense_vs_exact = 0;
    for (int32_t token : {3, 77, 150}) {
      const auto xn = ffn_input(*w, 0, token);
      const auto y_dense = dense(*w, f, xn, nullptr);
      const auto y_all = sparse(1, b, xn, all_neurons(ff));
      worst_all = std::max(worst_all, rel_err(y_all, y_dense));
      const auto y_exact = dense(*w, f, xn, nullptr, true);  // float activations: neither path's roundings
      sparse_vs_exact = std::max(sparse_vs_exact, rel_err(y_all, y_exact));
      dense_vs_exact = std::max(dense_vs_exact, rel_err(y_dense, y_exact));
      worst_oracle = std::max(worst_oracle, rel_err(sparse(2, b, xn, oracle_active(f, xn)), y_dense));
      const auto subset = random_subset(ff, 2000u + static_cast<uint64_t>(token), 0.3);
      worst_subset = std::max(worst_subset, rel_err(sparse(1, b, xn, subset), dense(*w, f, xn, &subset)));
    }
    MESSAGE(type_name(rb.type) << ": max rel err all " << worst_all << ", oracle " << worst_oracle << ", subset " << worst_subset
                               << "; vs float-activation ffn_block: sparse " << sparse_vs_exact << ", dense " << dense_vs_exact);
    // As for Q8_0 / Q4_0 models (the file comment: down^T re-quantized to Q8_0, h kept in float,
    // where ffn_block rounds h to Q8_0), with twice the margin: random blocks mix sub-block
    // scales freely, so a re-quantized down^T block holds values of very different sizes.
    CHECK(worst_all <= 3e-2);
    CHECK(worst_oracle <= 3e-2);
    CHECK(worst_subset <= 3e-2);
    CHECK(sparse_vs_exact <= 1.5 * dense_vs_exact + 1e-3);  // the sparse path no worse than the dense one
  }
}

TEST_CASE("sparse_ffn matches ffn_block: F32") { check_type(GgmlType::F32, "f32", 1e-5); }
TEST_CASE("sparse_ffn matches ffn_block: Q8_0") { check_type(GgmlType::Q8_0, "q8_0", 1.5e-2); }
TEST_CASE("sparse_ffn matches ffn_block: Q4_0") { check_type(GgmlType::Q4_0, "q4_0", 1.5e-2); }

TEST_CASE("neuron bundles: records hold the stored gate/up bytes and the exact F32 down column") {
  const auto w = relu_model(GgmlType::F32, "layout");
  const FfnWeights f = FfnWeights::of_layer(*w, 1);
  const NeuronBundles b(f);
  REQUIRE(b.gated());
  CHECK(b.n_neurons() == f.n_neurons());
  CHECK(b.d_model() == f.d_model());
  for (int64_t i : {0, 1, 200, 383}) {
    CHECK(std::memcmp(b.gate(i), f.gate.row(i), b.gate_up_row_bytes()) == 0);
    CHECK(std::memcmp(b.up(i), f.up.row(i), b.gate_up_row_bytes()) == 0);
    const auto* col = reinterpret_cast<const float*>(b.down_t(i));
    for (int64_t r : {0, 5, 127}) CHECK(col[r] == reinterpret_cast<const float*>(f.down.row(r))[i]);
  }
  // A caller-provided buffer gives the same bytes.
  std::vector<std::byte> buf(NeuronBundles::bytes_needed(f) + 64);
  const auto addr = reinterpret_cast<uintptr_t>(buf.data());
  std::span<std::byte> aligned(buf.data() + (64 - addr % 64) % 64, NeuronBundles::bytes_needed(f));
  const NeuronBundles c(f, aligned);
  CHECK(std::memcmp(c.record(0), b.record(0), b.bytes()) == 0);
  CHECK_THROWS_AS(NeuronBundles(f, aligned.subspan(0, aligned.size() - 1)), std::invalid_argument);
  // An empty active list gives zeros.
  ThreadPool pool(2);
  SparseScratch s;
  std::vector<float> xn(static_cast<size_t>(b.d_model()), 1.0f), y(xn.size(), 5.0f);
  sparse_ffn(pool, b, xn.data(), {}, y.data(), s);
  CHECK(std::all_of(y.begin(), y.end(), [](float v) { return v == 0.0f; }));
}

TEST_CASE("sparse_ffn_batch: each token computed with its own set, records read once per batch (5 and 70 tokens)") {
  const auto w = relu_model(GgmlType::Q8_0, "batch_q8_0");
  const FfnWeights f = FfnWeights::of_layer(*w, 1);
  const NeuronBundles b(f);
  const int64_t d = f.d_model();
  for (int B : {5, 70}) {
    std::vector<float> xn;
    std::vector<std::vector<int32_t>> lists;
    for (int t = 0; t < B; ++t) {
      const auto x = ffn_input(*w, 1, static_cast<int32_t>((t * 37 + 3) % 300));
      xn.insert(xn.end(), x.begin(), x.end());
      lists.push_back(random_subset(f.n_neurons(), 77u + static_cast<uint64_t>(t), t % 3 == 0 ? 0.05 : 0.4));
    }
    ThreadPool pool(2);
    SparseScratch s;
    std::vector<float> y(xn.size(), 5.0f);
    sparse_ffn_batch(pool, b, xn.data(), B, lists, y.data(), s);
    double worst = 0;
    for (int t = 0; t < B; ++t) {
      const std::vector<float> xt(xn.begin() + t * d, xn.begin() + (t + 1) * d);
      const std::vector<float> yt(y.begin() + t * d, y.begin() + (t + 1) * d);
      worst = std::max(worst, rel_err(yt, dense(*w, f, xt, &lists[static_cast<size_t>(t)])));
    }
    INFO(B << " tokens: max rel err " << worst);
    CHECK(worst <= 1.5e-2);  // the Q8_0 bound of the single-token test
  }
}

TEST_CASE("neuron bundles of a neuron subset equal the full set's records of those neurons") {
  const auto w = relu_model(GgmlType::Q4_0, "subset_q4_0");
  const FfnWeights f = FfnWeights::of_layer(*w, 0);
  const NeuronBundles full(f);
  const std::vector<int32_t> pick = {0, 3, 4, 100, 383};
  std::vector<std::byte> buf(NeuronBundles::bytes_needed(f, pick.size()) + 64);
  auto* p = buf.data() + (64 - reinterpret_cast<uintptr_t>(buf.data()) % 64) % 64;
  const NeuronBundles sub(f, pick, std::span<std::byte>(p, NeuronBundles::bytes_needed(f, pick.size())));
  REQUIRE(sub.n_neurons() == 5);
  for (size_t k = 0; k < pick.size(); ++k)
    CHECK(std::memcmp(sub.record(static_cast<int64_t>(k)), full.record(pick[k]), full.used_record_bytes()) == 0);
  const std::vector<int32_t> unsorted = {4, 3};
  CHECK_THROWS_AS(NeuronBundles(f, unsorted, std::span<std::byte>(p, NeuronBundles::bytes_needed(f, 2))), std::invalid_argument);
}

TEST_CASE("neuron bundles, ScalesFirst layout: Q4_0/Q8_0 rows regrouped as [scales][quants], other types as stored") {
  for (auto [type, tag] : {std::pair{GgmlType::Q4_0, "layout_q4_0"}, std::pair{GgmlType::Q8_0, "layout_q8_0"}}) {
    const auto w = relu_model(type, tag);
    const FfnWeights f = FfnWeights::of_layer(*w, 0);
    const NeuronBundles grouped(f), stored(f, BlockLayout::Stored);
    REQUIRE(grouped.gate_up_scales_first());
    REQUIRE(grouped.down_t_scales_first());
    REQUIRE_FALSE(stored.gate_up_scales_first());
    CHECK(grouped.record_bytes() == stored.record_bytes());  // the same bytes, regrouped
    const int64_t nb = f.d_model() / 32;
    const size_t quants = type == GgmlType::Q4_0 ? 16 : 32;
    for (int64_t i : {0, 7, 383}) {
      // Stored rows are the file's bytes; ScalesFirst rows hold block k's scale at 2k and its quants after all scales.
      CHECK(std::memcmp(stored.gate(i), f.gate.row(i), stored.gate_up_row_bytes()) == 0);
      CHECK(std::memcmp(stored.up(i), f.up.row(i), stored.gate_up_row_bytes()) == 0);
      for (int64_t k : {int64_t{0}, nb - 1}) {
        const std::byte* block = f.up.row(i) + static_cast<size_t>(k) * (quants + 2);
        CHECK(std::memcmp(grouped.up(i) + 2 * k, block, 2) == 0);
        CHECK(std::memcmp(grouped.up(i) + 2 * nb + static_cast<int64_t>(quants) * k, block + 2, quants) == 0);
      }
      // down^T (Q8_0): the same values either way.
      std::vector<float> a(static_cast<size_t>(f.d_model())), b(a.size());
      dequantize_row(GgmlType::Q8_0, stored.down_t(i), a.data(), f.d_model());
      for (int64_t k = 0; k < nb; ++k) {
        std::byte blk[34];
        std::memcpy(blk, grouped.down_t(i) + 2 * k, 2);
        std::memcpy(blk + 2, grouped.down_t(i) + 2 * nb + 32 * k, 32);
        dequantize_row(GgmlType::Q8_0, blk, b.data() + 32 * k, 32);
      }
      CHECK(a == b);
    }
  }
  const auto w = relu_model(GgmlType::F32, "layout_f32");
  CHECK_FALSE(NeuronBundles(FfnWeights::of_layer(*w, 0)).gate_up_scales_first());
}

// The ScalesFirst kernels (AVX2/VNNI, 8 scales at a time) against the Stored layout's generic
// path (vec_dot and dequantize, checked against PyPI gguf elsewhere): the same integer block
// sums and scales, so only the float summation order differs.
// d_model 128 / 256 / 352 = 4 / 8 / 11 blocks: the Q4_0 dot's pairs of blocks in its 8-block
// loop, its pair tail and an odd last block; Q8_0's 8-block loop and its tail.
TEST_CASE("sparse_ffn: ScalesFirst kernels equal the stored-layout path (Q4_0, Q8_0; 1 and 2 threads; 4-at-a-time tail)") {
  for (auto [type, name] : {std::pair{GgmlType::Q4_0, "kernels_q4_0"}, std::pair{GgmlType::Q8_0, "kernels_q8_0"}})
  for (int dim : {128, 256, 352}) {
    const std::string tag = std::string(name) + "_" + std::to_string(dim);
    const auto w = relu_model(type, tag, dim);
    double worst = 0;
    for (int layer = 0; layer < 2; ++layer) {
      const FfnWeights f = FfnWeights::of_layer(*w, layer);
      const NeuronBundles grouped(f), stored(f, BlockLayout::Stored);
      for (int32_t token : {5, 120, 250}) {
        const auto xn = ffn_input(*w, layer, token);
        // subsets of 1..11 fired neurons exercise the 4-at-a-time loop and its remainder
        for (double p : {0.02, 0.3, 1.0}) {
          const auto subset = random_subset(f.n_neurons(), 500u + static_cast<uint64_t>(token), p);
          for (int threads : {1, 2}) worst = std::max(worst, rel_err(sparse(threads, grouped, xn, subset), sparse(threads, stored, xn, subset)));
        }
      }
    }
    INFO(std::string(tag) << ": max rel err " << worst);
    CHECK(worst <= 1e-5);
  }
}
