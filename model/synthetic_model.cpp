#include "model/synthetic_model.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <thread>

#include "engine/rng.h"
#include "engine/thread_pool.h"
#include "kernels/quantize.h"
#include "model/synthetic_vocab.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace actinfer {

namespace {

// ---------------------------------------------------------------------------------------
// Deterministic random numbers: splitmix64 seeding, xoshiro256**, and (LaneRng) normal-like
// draws as a scaled sum of four 16-bit uniforms (Irwin-Hall; mean 0, variance 1,
// |x| < 3.47), which need only integer arithmetic and exact float steps, so every platform
// gets the same bits.

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t mix64(uint64_t x) { return splitmix64(x); }

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

// Rng (engine/rng.h) is xoshiro256** seeded by splitmix64, the same generator the
// streams below use: one seed gives the same norms and permutations as it always did.

// Rows of normal-like draws: four interleaved xoshiro256** streams (element j of a row
// from lane j % 4), so that AVX2 can run the lanes side by side; the scalar path gives
// the same bits.
class LaneRng {
 public:
  explicit LaneRng(uint64_t seed) {
    for (int l = 0; l < 4; ++l)
      for (int k = 0; k < 4; ++k) s_[k][l] = splitmix64(seed);
  }

  // out[j] = normal * scale for j in [0, n).
  void normals(float* out, int64_t n, float scale) {
    int64_t j = 0;
#if defined(__AVX2__)
    __m256i s0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(s_[0]));
    __m256i s1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(s_[1]));
    __m256i s2 = _mm256_load_si256(reinterpret_cast<const __m256i*>(s_[2]));
    __m256i s3 = _mm256_load_si256(reinterpret_cast<const __m256i*>(s_[3]));
    const __m256i mask = _mm256_set1_epi64x(0xFFFF);
    const __m256i low_halves = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    const __m128i center = _mm_set1_epi32(131070);
    const __m128 k = _mm_set1_ps(kNormalScale), sc = _mm_set1_ps(scale);
    for (; j + 4 <= n; j += 4) {
      const __m256i a = s1;
      const __m256i m5 = _mm256_add_epi64(_mm256_slli_epi64(a, 2), a);
      const __m256i rot = _mm256_or_si256(_mm256_slli_epi64(m5, 7), _mm256_srli_epi64(m5, 57));
      const __m256i r = _mm256_add_epi64(_mm256_slli_epi64(rot, 3), rot);
      const __m256i t = _mm256_slli_epi64(a, 17);
      s2 = _mm256_xor_si256(s2, s0);
      s3 = _mm256_xor_si256(s3, s1);
      s1 = _mm256_xor_si256(s1, s2);
      s0 = _mm256_xor_si256(s0, s3);
      s2 = _mm256_xor_si256(s2, t);
      s3 = _mm256_or_si256(_mm256_slli_epi64(s3, 45), _mm256_srli_epi64(s3, 19));
      const __m256i sum = _mm256_add_epi64(
          _mm256_add_epi64(_mm256_and_si256(r, mask), _mm256_and_si256(_mm256_srli_epi64(r, 16), mask)),
          _mm256_add_epi64(_mm256_and_si256(_mm256_srli_epi64(r, 32), mask), _mm256_srli_epi64(r, 48)));
      const __m128i sum32 = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(sum, low_halves));
      const __m128 x = _mm_cvtepi32_ps(_mm_sub_epi32(sum32, center));
      _mm_storeu_ps(out + j, _mm_mul_ps(_mm_mul_ps(x, k), sc));
    }
    _mm256_store_si256(reinterpret_cast<__m256i*>(s_[0]), s0);
    _mm256_store_si256(reinterpret_cast<__m256i*>(s_[1]), s1);
    _mm256_store_si256(reinterpret_cast<__m256i*>(s_[2]), s2);
    _mm256_store_si256(reinterpret_cast<__m256i*>(s_[3]), s3);
#endif
    for (; j < n; ++j) out[j] = next_normal(static_cast<int>(j % 4)) * scale;
  }

 private:
  static constexpr float kNormalScale = 2.6429280e-05f;  // sqrt(3) / 65536: variance 1
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  float next_normal(int l) {
    const uint64_t a = s_[1][l];
    const uint64_t r = rotl(a * 5, 7) * 9;
    const uint64_t t = a << 17;
    s_[2][l] ^= s_[0][l];
    s_[3][l] ^= s_[1][l];
    s_[1][l] ^= s_[2][l];
    s_[0][l] ^= s_[3][l];
    s_[2][l] ^= t;
    s_[3][l] = rotl(s_[3][l], 45);
    const int32_t sum = static_cast<int32_t>((r & 0xFFFF) + ((r >> 16) & 0xFFFF) + ((r >> 32) & 0xFFFF) + (r >> 48));
    return static_cast<float>(sum - 131070) * kNormalScale;
  }
  alignas(32) uint64_t s_[4][4];  // s_[state word][lane]
};

// A stream for one named object of the model, independent of every other.
uint64_t object_seed(uint64_t seed, std::string_view name) {
  uint64_t s = seed ^ fnv1a(name);
  return splitmix64(s);
}

LaneRng row_rng(uint64_t tensor_seed, int64_t row) {
  return LaneRng(tensor_seed ^ mix64(static_cast<uint64_t>(row) + 0x5851F42D4C957F2Dull));
}

// ---------------------------------------------------------------------------------------
// Normal distribution helpers.

double norm_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }
double norm_pdf(double x) { return std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI); }

// Inverse of the standard normal CDF (Acklam's approximation, refined by one Halley step).
double norm_quantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  double x;
  if (p < 0.02425) {
    const double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p > 1 - 0.02425) {
    const double q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {
    const double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  const double e = norm_cdf(x) - p;
  const double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

enum class Act { ReLU, SiLU, GELU };

Act parse_act(std::string_view s) {
  if (s == "relu") return Act::ReLU;
  if (s == "silu") return Act::SiLU;
  if (s == "gelu") return Act::GELU;
  throw std::invalid_argument("--activation must be relu, silu or gelu, not '" + std::string(s) + "'");
}

double act(Act a, double x) {
  switch (a) {
    case Act::ReLU: return x > 0 ? x : 0;
    case Act::SiLU: return x / (1 + std::exp(-x));
    case Act::GELU: return 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
  }
  return 0;
}

// E[act(g)^2] for g ~ N(mean, sd^2).
double act_second_moment(Act a, double mean, double sd) {
  if (a == Act::ReLU) {
    const double z = mean / sd;
    return sd * sd * ((z * z + 1) * norm_cdf(z) + z * norm_pdf(z));
  }
  constexpr int kPoints = 161;
  double sum = 0, wsum = 0;
  for (int k = 0; k < kPoints; ++k) {
    const double xi = -8.0 + 16.0 * k / (kPoints - 1);
    const double w = std::exp(-0.5 * xi * xi);
    const double y = act(a, mean + sd * xi);
    sum += w * y * y;
    wsum += w;
  }
  return sum / wsum;
}

// ---------------------------------------------------------------------------------------
// The model plan: every scale and bias, computed before any weight is generated.

struct LayerPlan {
  std::vector<float> attn_norm, ffn_norm;
  float sq = 0, sk = 0, sv = 0, so = 0, sg = 0, su = 0, sd = 0;
  std::vector<float> gate_bias;  // per neuron
  std::vector<float> gate_basis;  // gate_rank > 0: [gate_rank][dim] of N(0, 1), the rows' common directions
};

struct Plan {
  SyntheticModelConfig cfg;
  Act act = Act::ReLU;
  float bias_value = 0;
  std::vector<LayerPlan> layers;
  std::vector<float> output_norm;
  float s_out = 0;
  std::string note;
};

std::vector<float> norm_weights(uint64_t seed, const std::string& name, int dim, bool bias_dim_one) {
  Rng rng(object_seed(seed, name));
  std::vector<float> w(dim);
  for (float& x : w) x = static_cast<float>(0.9 + 0.2 * rng.uniform());
  if (bias_dim_one) w[0] = 1.0f;
  return w;
}

double sum_sq_rest(const std::vector<float>& w) {
  double s = 0;
  for (size_t j = 1; j < w.size(); ++j) s += static_cast<double>(w[j]) * w[j];
  return s;
}

std::shared_ptr<const Plan> make_plan(const SyntheticModelConfig& cfg) {
  auto plan = std::make_shared<Plan>();
  plan->cfg = cfg;
  plan->act = parse_act(cfg.activation);
  const int L = cfg.n_layers, d = cfg.dim, nff = cfg.ffn;
  const double D = d - 1;
  const double C = bias_channel_value(d);
  plan->bias_value = static_cast<float>(C);
  const double gamma_attn = 0.5 / L, gamma_ffn = 2.0 / L;
  const double score_var = 2.0;  // per q and k element: score spread ~ 2

  const std::vector<double> probs = neuron_fire_probabilities(nff, cfg.hot_fraction, cfg.sparsity, &plan->note);
  std::vector<double> z_by_rank(nff);
  for (int r = 0; r < nff; ++r) z_by_rank[r] = norm_quantile(std::clamp(probs[r], 1e-4, 1 - 1e-4));

  double v = 1.0;  // per-dimension variance of the residual stream outside dimension 0
  for (int l = 0; l < L; ++l) {
    LayerPlan lp;
    const std::string blk = "blk." + std::to_string(l) + ".";
    lp.attn_norm = norm_weights(cfg.seed, blk + "attn_norm.weight", d, true);
    lp.ffn_norm = norm_weights(cfg.seed, blk + "ffn_norm.weight", d, true);

    // Attention: normalized input x_j (j >= 1) has variance an_j^2 v / rms^2.
    double rms2 = (C * C + D * v) / d;
    const double sa = sum_sq_rest(lp.attn_norm) * v / rms2;  // sum of the inputs' variances
    lp.sq = lp.sk = static_cast<float>(std::sqrt(score_var / sa));
    lp.sv = static_cast<float>(1.0 / std::sqrt(sa));     // V elements: variance 1
    lp.so = static_cast<float>(std::sqrt(gamma_attn / d));  // adds gamma_attn to the residual
    v += gamma_attn;

    // FFN. gate_i = b_i fn_0 C / rms + (token part with sd s_g); gate_i > 0 with p_i when
    // b_i fn_0 C / rms = z_i s_g, i.e. b_i = z_i sg sqrt(F v) / (fn_0 C): rms cancels.
    rms2 = (C * C + D * v) / d;
    const double sf = sum_sq_rest(lp.ffn_norm) * v / rms2;
    lp.sg = lp.su = static_cast<float>(1.0 / std::sqrt(D));
    const double s_g = lp.sg * std::sqrt(sf), s_u = lp.su * std::sqrt(sf);
    Rng perm_rng(object_seed(cfg.seed, blk + "neuron_ranks"));
    std::vector<int> neuron_of_rank(nff);
    std::iota(neuron_of_rank.begin(), neuron_of_rank.end(), 0);
    for (int i = nff - 1; i > 0; --i) std::swap(neuron_of_rank[i], neuron_of_rank[perm_rng.below(i + 1)]);
    lp.gate_bias.assign(nff, 0.0f);
    const double bias_per_z = lp.sg * std::sqrt(sum_sq_rest(lp.ffn_norm) * v) / (lp.ffn_norm[0] * C);
    double h2 = 0;  // sum over neurons of E[(act(gate) * up)^2]
    for (int r = 0; r < nff; ++r) {
      const double z = z_by_rank[r];
      lp.gate_bias[neuron_of_rank[r]] = static_cast<float>(z * bias_per_z);
      h2 += act_second_moment(plan->act, z * s_g, s_g) * s_u * s_u;
    }
    lp.sd = static_cast<float>(std::sqrt(gamma_ffn / h2));
    if (cfg.gate_rank > 0) {
      lp.gate_basis.resize(static_cast<size_t>(cfg.gate_rank) * d);
      const uint64_t basis_seed = object_seed(cfg.seed, blk + "gate_basis");
      for (int j = 0; j < cfg.gate_rank; ++j) row_rng(basis_seed, j).normals(lp.gate_basis.data() + static_cast<size_t>(j) * d, d, 1.0f);
    }
    v += gamma_ffn;
    plan->layers.push_back(std::move(lp));
  }

  // Logits: standard deviation ~2.5 over the vocabulary.
  constexpr double kLogitSd = 2.5;
  const double rms2 = (C * C + D * v) / d;
  plan->output_norm = norm_weights(cfg.seed, "output_norm.weight", d, false);
  const double so = sum_sq_rest(plan->output_norm) * v / rms2;
  if (cfg.tied) {
    // The output head is token_embd (variance 1 outside dimension 0): scale the norm.
    const float k = static_cast<float>(kLogitSd / std::sqrt(so));
    for (float& w : plan->output_norm) w *= k;
    plan->s_out = 1.0f;
  } else {
    plan->s_out = static_cast<float>(kLogitSd / std::sqrt(so));
  }
  return plan;
}

// ---------------------------------------------------------------------------------------
// Row generation.

enum class RowKind {
  Embedding,      // [0] = bias value, rest ~ N(0, 1)
  ReadResidual,   // [0] = 0, rest ~ N(0, s^2)
  Gate,           // [0] = bias[row], rest ~ N(0, s^2)
  WriteResidual,  // row 0 all zero, other rows ~ N(0, s^2)
};

struct MatrixSpec {
  RowKind kind;
  int64_t cols = 0, rows = 0;
  float scale = 1;
  uint64_t seed = 0;
  const std::vector<float>* bias = nullptr;   // Gate
  float bias_value = 0;                       // Embedding
  const std::vector<float>* basis = nullptr;  // Gate of rank gate_rank: [rank][cols]
  int basis_rank = 0;
};

void generate_row(const MatrixSpec& m, int64_t row, float* out) {
  if (m.kind == RowKind::WriteResidual && row == 0) {
    std::fill(out, out + m.cols, 0.0f);
    return;
  }
  if (m.kind == RowKind::Gate && m.basis_rank > 0) {
    // Row = (u_row . basis) * scale / sqrt(rank), u_row ~ N(0, 1)^rank: the same element
    // variance as a full-rank row, but every row in the span of the basis.
    std::vector<float> u(static_cast<size_t>(m.basis_rank));
    row_rng(m.seed, row).normals(u.data(), m.basis_rank, m.scale / std::sqrt(static_cast<float>(m.basis_rank)));
    std::fill(out, out + m.cols, 0.0f);
    for (int j = 0; j < m.basis_rank; ++j) {
      const float* b = m.basis->data() + static_cast<size_t>(j) * static_cast<size_t>(m.cols);
      for (int64_t k = 0; k < m.cols; ++k) out[k] += u[static_cast<size_t>(j)] * b[k];
    }
  } else {
    row_rng(m.seed, row).normals(out, m.cols, m.scale);
  }
  switch (m.kind) {
    case RowKind::Embedding: out[0] = m.bias_value; break;
    case RowKind::ReadResidual: out[0] = 0.0f; break;
    case RowKind::Gate: out[0] = (*m.bias)[row]; break;
    case RowKind::WriteResidual: break;
  }
}

// Bytes written so far, for the caller's progress display (tools/progress_bar.h in make-model).
struct ProgressTracker {
  SyntheticModelProgress report;
  uint64_t total = 0, done = 0;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  const std::string* current = nullptr;
  std::string note;

  double elapsed() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  void add(uint64_t n) {
    done += n;
    if (report) report(done, total, current ? *current : std::string());
  }
};

int worker_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return static_cast<int>(std::clamp(n, 1u, 8u));
}

// Streams a matrix: rows generated and quantized in chunks on a thread pool (row r always
// from its own seeded stream, so the bytes do not depend on the thread count).
GgufWriter::TensorWriteFn matrix_writer(std::shared_ptr<const Plan> plan, MatrixSpec spec, GgmlType type,
                                        std::shared_ptr<ProgressTracker> tracker) {
  return [plan, spec, type, tracker](GgufWriter::TensorSink& sink) {
    const int64_t rb = row_bytes(type, spec.cols);
    const int64_t chunk_rows = std::max<int64_t>(1, (int64_t{4} << 20) / rb);
    const bool small = spec.rows * spec.cols < (1 << 16);
    ThreadPool pool(small ? 1 : static_cast<int>(std::min<int64_t>(worker_threads(), chunk_rows)));
    std::vector<uint8_t> buf(static_cast<size_t>(chunk_rows * rb));
    std::vector<std::vector<float>> scratch(static_cast<size_t>(pool.size()), std::vector<float>(static_cast<size_t>(spec.cols)));
    for (int64_t r0 = 0; r0 < spec.rows; r0 += chunk_rows) {
      const int64_t n = std::min(chunk_rows, spec.rows - r0);
      pool.run([&](int t, int nt) {
        float* row = scratch[static_cast<size_t>(t)].data();
        for (int64_t r = r0 + t; r < r0 + n; r += nt) {
          generate_row(spec, r, row);
          quantize_row(type, row, buf.data() + (r - r0) * rb, spec.cols);
        }
      });
      sink.write(buf.data(), static_cast<size_t>(n * rb));
      if (tracker) tracker->add(static_cast<uint64_t>(n * rb));
    }
  };
}

GgufWriter build(const SyntheticModelConfig& cfg, const std::shared_ptr<ProgressTracker>& tracker) {
  validate(cfg);
  std::shared_ptr<const Plan> plan = make_plan(cfg);
  const bool gemma3 = cfg.arch == "gemma3";
  const int d = cfg.dim, nff = cfg.ffn, hd = cfg.head_dim > 0 ? cfg.head_dim : cfg.dim / cfg.n_heads;
  const int kv = hd * cfg.n_kv_heads, qd = hd * cfg.n_heads;
  const std::string a = cfg.arch + ".";

  GgufWriter w(32);
  std::string name = cfg.name;
  if (name.empty())
    name = "actinfer-synthetic-" + std::to_string(cfg.n_layers) + "x" + std::to_string(d) + "-" +
           std::string(traits(cfg.type).name);
  w.add_string("general.architecture", cfg.arch);
  w.add_string("general.type", "model");
  w.add_string("general.name", name);
  w.add_u32("general.file_type", llama_file_type(cfg.type));
  if (traits(cfg.type).block_elems > 1 || traits(cfg.output_type).block_elems > 1)
    w.add_u32("general.quantization_version", 2);
  w.add_u32(a + "block_count", cfg.n_layers);
  w.add_u32(a + "context_length", cfg.ctx);
  w.add_u32(a + "embedding_length", d);
  w.add_u32(a + "feed_forward_length", nff);
  w.add_u32(a + "attention.head_count", cfg.n_heads);
  w.add_u32(a + "attention.head_count_kv", cfg.n_kv_heads);
  w.add_f32(a + "attention.layer_norm_rms_epsilon", cfg.rms_eps);
  w.add_f32(a + "rope.freq_base", cfg.rope_base);
  if (gemma3) {  // as llama.cpp's converter writes gemma3 files
    w.add_u32(a + "attention.key_length", hd);
    w.add_u32(a + "attention.value_length", hd);
    if (cfg.sliding_window > 0) w.add_u32(a + "attention.sliding_window", cfg.sliding_window);
  } else {
    w.add_u32(a + "rope.dimension_count", hd);
    w.add_u32(a + "vocab_size", cfg.vocab);
  }
  w.add_string("actinfer.ffn_activation", cfg.activation);
  w.add_u64("actinfer.synthetic.seed", cfg.seed);
  w.add_f32("actinfer.synthetic.sparsity", static_cast<float>(cfg.sparsity));
  w.add_f32("actinfer.synthetic.hot_fraction", static_cast<float>(cfg.hot_fraction));
  if (cfg.gate_rank > 0) w.add_u32("actinfer.synthetic.gate_rank", static_cast<uint32_t>(cfg.gate_rank));
  w.add_u32("actinfer.synthetic.bias_channel", 0);
  w.add_f32("actinfer.synthetic.bias_value", plan->bias_value);

  const SyntheticVocab vocab = make_synthetic_vocab(cfg.vocab);
  w.add_string("tokenizer.ggml.model", "gpt2");
  w.add_string("tokenizer.ggml.pre", "default");
  w.add_string_array("tokenizer.ggml.tokens", vocab.tokens);
  w.add_i32_array("tokenizer.ggml.token_type", vocab.token_types);
  w.add_string_array("tokenizer.ggml.merges", vocab.merges);
  w.add_u32("tokenizer.ggml.bos_token_id", vocab.bos_id);
  w.add_u32("tokenizer.ggml.eos_token_id", vocab.eos_id);
  w.add_u32("tokenizer.ggml.padding_token_id", vocab.eos_id);
  w.add_bool("tokenizer.ggml.add_bos_token", false);
  w.add_bool("tokenizer.ggml.add_eos_token", false);
  w.add_string("tokenizer.chat_template",
               "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
               "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
               "{% endif %}");

  auto matrix = [&](const std::string& tname, GgmlType type, RowKind kind, int64_t cols, int64_t rows, float scale,
                    const std::vector<float>* bias = nullptr, const std::vector<float>* basis = nullptr) {
    MatrixSpec spec{kind, cols, rows, scale, object_seed(cfg.seed, tname), bias, plan->bias_value, basis, basis ? cfg.gate_rank : 0};
    w.add_tensor_stream(tname, type, {cols, rows}, matrix_writer(plan, spec, type, tracker));
  };
  matrix("token_embd.weight", cfg.tied ? cfg.output_type : cfg.type, RowKind::Embedding, d, cfg.vocab, 1.0f);
  w.add_tensor_f32("output_norm.weight", {d}, plan->output_norm);
  if (!cfg.tied) matrix("output.weight", cfg.output_type, RowKind::ReadResidual, d, cfg.vocab, plan->s_out);
  for (int l = 0; l < cfg.n_layers; ++l) {
    const LayerPlan& lp = plan->layers[l];
    const std::string blk = "blk." + std::to_string(l) + ".";
    w.add_tensor_f32(blk + "attn_norm.weight", {d}, lp.attn_norm);
    matrix(blk + "attn_q.weight", cfg.type, RowKind::ReadResidual, d, qd, lp.sq);
    matrix(blk + "attn_k.weight", cfg.type, RowKind::ReadResidual, d, kv, lp.sk);
    matrix(blk + "attn_v.weight", cfg.type, RowKind::ReadResidual, d, kv, lp.sv);
    matrix(blk + "attn_output.weight", cfg.type, RowKind::WriteResidual, qd, d, lp.so);
    if (gemma3) {
      // Random weights near 1 as the file stores Gemma's (1 + w); the post norms keep
      // dimension 0 (the bias channel) at 0 because attn_output and ffn_down never write it.
      for (const char* n : {"attn_q_norm.weight", "attn_k_norm.weight"})
        w.add_tensor_f32(blk + n, {hd}, norm_weights(cfg.seed, blk + n, hd, false));
      for (const char* n : {"post_attention_norm.weight", "post_ffw_norm.weight"})
        w.add_tensor_f32(blk + n, {d}, norm_weights(cfg.seed, blk + n, d, false));
    }
    w.add_tensor_f32(blk + "ffn_norm.weight", {d}, lp.ffn_norm);
    matrix(blk + "ffn_gate.weight", cfg.type, RowKind::Gate, d, nff, lp.sg, &lp.gate_bias, cfg.gate_rank > 0 ? &lp.gate_basis : nullptr);
    matrix(blk + "ffn_up.weight", cfg.type, RowKind::ReadResidual, d, nff, lp.su);
    matrix(blk + "ffn_down.weight", cfg.type, RowKind::WriteResidual, nff, d, lp.sd);
  }
  if (tracker) {
    tracker->total = w.tensor_data_bytes();
    tracker->note = plan->note;
  }
  return w;
}

std::string lowercase(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

}  // namespace

// -----------------------------------------------------------------------------------------

float bias_channel_value(int dim) {
  // 127/16 * 2^k nearest (in ratio) to sqrt(dim) / 2: exactly representable as F16, BF16,
  // Q8_0 (scale 2^k/16) and Q4_0 (scale 127 * 2^k / 128), so every row holds it exactly.
  const double target = std::sqrt(static_cast<double>(dim)) / 2;
  double c = 127.0 / 16;
  while (c * std::sqrt(2.0) < target) c *= 2;
  return static_cast<float>(c);
}

void validate(const SyntheticModelConfig& c) {
  auto fail = [](const std::string& m) { throw std::invalid_argument(m); };
  if (c.n_layers < 1) fail("--layers must be at least 1");
  if (c.dim < 2) fail("--dim must be at least 2");
  if (c.n_heads < 1) fail("--heads must be at least 1");
  if (c.n_kv_heads < 1) fail("--kv-heads must be at least 1");
  if (c.arch != "llama" && c.arch != "gemma3") fail("--arch '" + c.arch + "' is not llama or gemma3");
  if (c.head_dim < 0 || c.head_dim % 2 != 0) fail("--head-dim must be even (0: --dim / --heads)");
  if (c.head_dim > 0 && c.arch != "gemma3") fail("--head-dim is for --arch gemma3 (llama heads are --dim / --heads wide)");
  if (c.sliding_window < 0) fail("--sliding-window must be >= 0");
  if (c.sliding_window > 0 && c.arch != "gemma3") fail("--sliding-window is for --arch gemma3");
  if (c.head_dim == 0 && c.dim % c.n_heads != 0)
    fail("--dim " + std::to_string(c.dim) + " is not divisible by --heads " + std::to_string(c.n_heads));
  if (c.head_dim == 0 && (c.dim / c.n_heads) % 2 != 0)
    fail("head dimension --dim / --heads = " + std::to_string(c.dim / c.n_heads) + " must be even for RoPE");
  if (c.head_dim > 0 && (int64_t{c.head_dim} * c.n_heads) % traits(c.type).block_elems != 0)
    fail("--heads x --head-dim is not a multiple of the " + std::string(traits(c.type).name) + " block size");
  if (c.n_heads % c.n_kv_heads != 0)
    fail("--heads " + std::to_string(c.n_heads) + " is not a multiple of --kv-heads " + std::to_string(c.n_kv_heads));
  if (c.ffn < 1) fail("--ffn must be at least 1");
  if (c.vocab < 259) fail("--vocab must be at least 259 (256 byte tokens and 3 special tokens)");
  if (c.ctx < 1) fail("--ctx must be at least 1");
  for (auto [type, flag] : {std::pair{c.type, "--type"}, std::pair{c.output_type, "--output-type"}}) {
    const TypeTraits* t = find_type_traits(static_cast<uint32_t>(type));
    if (t == nullptr) fail(std::string(flag) + ": unknown type");
    if (!is_writable_weight_type(type))
      fail(std::string(flag) + " " + std::string(t->name) + " cannot be written: no quantizer for it here (writable: " +
           writable_weight_type_names() + ")");
  }
  const int64_t block = traits(c.type).block_elems;
  if (c.dim % block != 0)
    fail("--dim " + std::to_string(c.dim) + " is not a multiple of the " + std::string(traits(c.type).name) +
         " block size " + std::to_string(block));
  if (c.ffn % block != 0)
    fail("--ffn " + std::to_string(c.ffn) + " is not a multiple of the " + std::string(traits(c.type).name) +
         " block size " + std::to_string(block));
  const int64_t oblock = traits(c.output_type).block_elems;
  if (c.dim % oblock != 0)
    fail("--dim " + std::to_string(c.dim) + " is not a multiple of the --output-type " +
         std::string(traits(c.output_type).name) + " block size " + std::to_string(oblock));
  if (!(c.sparsity > 0 && c.sparsity < 1)) fail("--sparsity must be between 0 and 1 (exclusive)");
  if (!(c.hot_fraction > 0 && c.hot_fraction < 1)) fail("--hot-fraction must be between 0 and 1 (exclusive)");
  if (c.gate_rank < 0 || c.gate_rank >= c.dim)
    fail("--gate-rank must be in [0, --dim), got " + std::to_string(c.gate_rank));
  parse_act(c.activation);
  if (!(c.rms_eps > 0)) fail("rms epsilon must be positive");
  if (!(c.rope_base > 0)) fail("rope base must be positive");
}

std::vector<std::string> shape_preset_names() { return {"tinyllama-1.1b", "llama-7b"}; }

void apply_shape_preset(SyntheticModelConfig& c, std::string_view shape) {
  const std::string s = lowercase(shape);
  if (s == "tinyllama-1.1b") {
    c.n_layers = 22, c.dim = 2048, c.ffn = 5632, c.n_heads = 32, c.n_kv_heads = 4;
  } else if (s == "llama-7b") {
    c.n_layers = 32, c.dim = 4096, c.ffn = 11008, c.n_heads = 32, c.n_kv_heads = 32;
  } else {
    throw std::invalid_argument("unknown --shape '" + std::string(shape) + "' (tinyllama-1.1b, llama-7b)");
  }
}

bool is_writable_weight_type(GgmlType type) {
  const TypeTraits* t = find_type_traits(static_cast<uint32_t>(type));
  return t != nullptr && t->weight && t->quantize != nullptr;
}

std::string writable_weight_type_names() {
  std::string s;
  for (uint32_t id = 0; id < 64; ++id)
    if (const TypeTraits* t = find_type_traits(id); t != nullptr && is_writable_weight_type(static_cast<GgmlType>(id)))
      s += (s.empty() ? "" : ", ") + lowercase(t->name);
  return s;
}

GgmlType parse_weight_type(std::string_view name) {
  const std::optional<GgmlType> type = type_from_name(name);
  if (!type)
    throw std::invalid_argument("unknown weight type '" + std::string(name) + "' (" + writable_weight_type_names() + ")");
  if (!is_writable_weight_type(*type))
    throw std::invalid_argument("weight type " + type_name(*type) + " cannot be written: no quantizer for it here (" +
                                writable_weight_type_names() + ")");
  return *type;
}

uint32_t llama_file_type(GgmlType type) {
  if (!is_weight_type(type)) throw std::invalid_argument("no llama file type for " + type_name(type));
  return type_row(type).llama_file_type;
}

std::vector<double> neuron_fire_probabilities(int64_t n, double h, double sparsity, std::string* note) {
  if (n < 1) throw std::invalid_argument("neuron count must be positive");
  if (!(h > 0 && h < 1)) throw std::invalid_argument("hot fraction must be between 0 and 1");
  if (!(sparsity > 0 && sparsity < 1)) throw std::invalid_argument("sparsity must be between 0 and 1");
  constexpr double kPMax = 0.98;
  const double target = 1 - sparsity;
  // (1 + (r/h)^2)^(-alpha/2): a plateau for r << h, then a power law (r/h)^-alpha.
  auto shape = [&](double alpha) {
    std::vector<double> f(n);
    for (int64_t k = 0; k < n; ++k) {
      const double u = (k + 0.5) / n / h;
      f[k] = std::pow(1 + u * u, -alpha / 2);
    }
    return f;
  };
  auto mean = [](const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / v.size(); };
  const double lo = 0.05, hi = 8;  // past 8 the plateau itself would shrink
  const double m_lo = kPMax * mean(shape(lo)), m_hi = kPMax * mean(shape(hi));
  std::vector<double> p;
  if ((target - m_lo) * (target - m_hi) <= 0) {
    // Bisection on log(alpha).
    double a = std::log(lo), b = std::log(hi);
    for (int it = 0; it < 100; ++it) {
      const double m = 0.5 * (a + b);
      const double mm = kPMax * mean(shape(std::exp(m)));
      if ((mm - target) * (m_lo - target) > 0) a = m; else b = m;
    }
    p = shape(std::exp(0.5 * (a + b)));
    for (double& x : p) x *= kPMax;
  } else if (target < std::min(m_lo, m_hi)) {
    // Sparser than the curve allows with these hot neurons: lower the whole curve.
    p = shape(hi);
    const double s = target / mean(p);
    for (double& x : p) x *= s;
    if (note)
      *note = "sparsity " + std::to_string(sparsity) + " is too high for hot fraction " + std::to_string(h) +
              ": the hottest neurons fire for " + std::to_string(p[0]) + " of the tokens";
  } else {
    // Denser: raise the tail by a floor q: p = q + (p_max - q) f.
    p = shape(1.0);
    const double f = mean(p);
    const double pmax = std::max(kPMax, target);
    const double q = std::clamp((target - pmax * f) / (1 - f), 0.0, pmax);
    for (double& x : p) x = q + (pmax - q) * x;
    if (note)
      *note = "sparsity " + std::to_string(sparsity) + " is low for hot fraction " + std::to_string(h) +
              ": every neuron fires for at least " + std::to_string(q) + " of the tokens";
  }
  return p;
}


SyntheticModelReport write_synthetic_model(const SyntheticModelConfig& cfg, const std::filesystem::path& path,
                                           const SyntheticModelProgress& progress) {
  auto tracker = std::make_shared<ProgressTracker>();
  tracker->report = progress;
  GgufWriter w = build(cfg, tracker);
  SyntheticModelReport report;
  report.note = tracker->note;
  w.write(path, [&](const GgufWriter::Progress& p) { tracker->current = p.name; });
  report.seconds = tracker->elapsed();
  report.n_tensors = w.tensor_count();
  report.file_bytes = std::filesystem::file_size(path);
  const uint64_t d = cfg.dim, hd = cfg.head_dim > 0 ? uint64_t(cfg.head_dim) : d / cfg.n_heads, f = cfg.ffn;
  const uint64_t kv = hd * cfg.n_kv_heads, qd = hd * cfg.n_heads;
  report.n_params = uint64_t(cfg.vocab) * d * (cfg.tied ? 1 : 2) + d +
                    uint64_t(cfg.n_layers) * (2 * d * qd + 2 * d * kv + 3 * d * f + 2 * d);
  return report;
}

}  // namespace actinfer
