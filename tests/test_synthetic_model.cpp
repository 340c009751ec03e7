// make-model's synthetic llama GGUF: layout, bias channel, tokenizer and the designed
// power-law activation statistics.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "kernels/dequantize.h"
#include "kernels/ggml_type.h"
#include "model/gguf_file.h"
#include "model/synthetic_model.h"

using namespace actinfer;

namespace {

std::filesystem::path synth_path(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(ACTINFER_TEST_DATA_DIR) / "synthetic_model";
  std::filesystem::create_directories(dir);
  return dir / name;
}

// A whole tensor as floats, row-major [rows][cols].
struct Mat {
  int64_t cols = 0, rows = 0;
  std::vector<float> v;
  const float* row(int64_t r) const { return v.data() + r * cols; }
};

Mat load(const GgufFile& f, const std::string& name) {
  const TensorInfo* t = f.find_tensor(name);
  REQUIRE_MESSAGE(t, name);
  Mat m;
  m.cols = t->shape[0];
  m.rows = t->rows();
  m.v.resize(static_cast<size_t>(m.cols * m.rows));
  const auto data = f.tensor_data(*t);
  const int64_t rb = row_bytes(t->type, m.cols);
  for (int64_t r = 0; r < m.rows; ++r) dequantize_row(t->type, data.data() + r * rb, m.v.data() + r * m.cols, m.cols);
  return m;
}

std::vector<float> matvec(const Mat& m, const std::vector<float>& x) {
  std::vector<float> y(m.rows);
  for (int64_t r = 0; r < m.rows; ++r) {
    double s = 0;
    const float* w = m.row(r);
    for (int64_t j = 0; j < m.cols; ++j) s += static_cast<double>(w[j]) * x[j];
    y[r] = static_cast<float>(s);
  }
  return y;
}

std::vector<float> rmsnorm(const std::vector<float>& x, const std::vector<float>& w, float eps) {
  double ss = 0;
  for (float v : x) ss += static_cast<double>(v) * v;
  const float inv = static_cast<float>(1.0 / std::sqrt(ss / x.size() + eps));
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * w[i];
  return y;
}

// Share of all activations taken by the most active 10% of neurons.
double top10_share(std::vector<int> counts) {
  std::sort(counts.rbegin(), counts.rend());
  const double total = std::accumulate(counts.begin(), counts.end(), 0.0);
  const double top = std::accumulate(counts.begin(), counts.begin() + counts.size() / 10, 0.0);
  return total > 0 ? top / total : 0;
}

uint64_t test_rng(uint64_t& s) {  // splitmix64
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::vector<int> sample_tokens(int n, int vocab, uint64_t seed) {
  std::vector<int> t;
  for (int i = 0; i < n; ++i) t.push_back(static_cast<int>(test_rng(seed) % static_cast<uint64_t>(vocab - 3)));
  return t;
}

std::string file_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("synthetic vocab: byte tokens, merges that build tokens, control tokens") {
  for (int n : {259, 300, 512, 32000}) {
    CAPTURE(n);
    const SyntheticVocab v = make_synthetic_vocab(n);
    REQUIRE(v.tokens.size() == static_cast<size_t>(n));
    REQUIRE(v.token_types.size() == static_cast<size_t>(n));
    REQUIRE(v.merges.size() == static_cast<size_t>(n - 259));
    CHECK(v.tokens[' '] == "\xC4\xA0");  // Ġ
    CHECK(v.tokens['a'] == "a");
    CHECK(v.tokens['\n'] == "\xC4\x8A");  // Ċ
    CHECK(v.tokens[0] == "\xC4\x80");     // Ā
    CHECK(v.tokens[255] == "\xC3\xBF");   // ÿ
    CHECK(v.eos_id == n - 3);
    CHECK(v.bos_id == v.eos_id);
    CHECK(v.tokens[v.eos_id] == "<|endoftext|>");
    CHECK(v.tokens[v.im_start_id] == "<|im_start|>");
    CHECK(v.tokens[v.im_end_id] == "<|im_end|>");
    const std::set<std::string> unique(v.tokens.begin(), v.tokens.end());
    CHECK(unique.size() == v.tokens.size());
    std::set<std::string> seen(v.tokens.begin(), v.tokens.begin() + 256);
    bool merges_ok = true;
    for (size_t k = 0; k < v.merges.size(); ++k) {
      const std::string& m = v.merges[k];
      const size_t sp = m.find(' ');
      const std::string a = m.substr(0, sp), b = m.substr(sp + 1);
      // Both parts are earlier tokens; merge k makes token 256 + k.
      merges_ok = merges_ok && sp != std::string::npos && b.find(' ') == std::string::npos && seen.count(a) &&
                  seen.count(b) && v.tokens[256 + k] == a + b;
      seen.insert(v.tokens[256 + k]);
    }
    CHECK(merges_ok);
    for (int i = 0; i < n; ++i) CHECK(v.token_types[i] == (i >= n - 3 ? 3 : 1));
  }
  const SyntheticVocab v = make_synthetic_vocab(512);
  CHECK(v.merges[0] == "Ġ t");
  CHECK(std::find(v.tokens.begin(), v.tokens.end(), "Ġthe") != v.tokens.end());
  CHECK(std::find(v.tokens.begin(), v.tokens.end(), "Ġand") != v.tokens.end());
  CHECK(gpt2_byte_token(0xAD) == "\xC5\x83");  // the one non-printable byte above 0xA0: U+0143
  CHECK_THROWS_AS(make_synthetic_vocab(258), std::invalid_argument);
}

TEST_CASE("synthetic model: firing probabilities follow a power law with the requested mean") {
  for (double sparsity : {0.8, 0.9, 0.95}) {
    for (int64_t n : {1024, 5632}) {
      CAPTURE(sparsity);
      CAPTURE(n);
      std::string note;
      const auto p = neuron_fire_probabilities(n, 0.05, sparsity, &note);
      CHECK(note.empty());
      const double mean = std::accumulate(p.begin(), p.end(), 0.0) / n;
      CHECK(mean == doctest::Approx(1 - sparsity).epsilon(0.01));
      CHECK(std::is_sorted(p.rbegin(), p.rend()));
      CHECK(p[0] > 0.95);
      // About hot_fraction of the neurons fire for at least half of the tokens.
      const auto hot = std::count_if(p.begin(), p.end(), [](double x) { return x >= 0.5; });
      CHECK(hot >= 0.05 * n * 0.6);
      CHECK(hot <= 0.05 * n * 2.5);
      double top = 0, rest = 0;
      for (int64_t i = 0; i < n; ++i) (i < n / 10 ? top : rest) += p[i];
      // With sparsity 0.8 the hottest 10% can hold at most 0.1 * 0.98 / 0.2 = 49%.
      if (sparsity >= 0.9) CHECK(top / (top + rest) > 0.55);
      else CHECK(top / (top + rest) > 0.25);
      if (sparsity >= 0.9) CHECK(p[n - 1] < 0.01);
    }
  }
  // Out of the curve's reach: still the requested mean, with a note.
  std::string note;
  auto p = neuron_fire_probabilities(1000, 0.2, 0.99, &note);
  CHECK_FALSE(note.empty());
  CHECK(std::accumulate(p.begin(), p.end(), 0.0) / 1000 == doctest::Approx(0.01).epsilon(0.01));
  CHECK(p[0] < 0.15);
  for (double sparsity : {0.3, 0.05}) {
    note.clear();
    p = neuron_fire_probabilities(1000, 0.05, sparsity, &note);
    CHECK(note.empty() == (sparsity > 0.1));
    CHECK(std::accumulate(p.begin(), p.end(), 0.0) / 1000 == doctest::Approx(1 - sparsity).epsilon(0.01));
    CHECK(std::is_sorted(p.rbegin(), p.rend()));
  }
}

TEST_CASE("synthetic model: config validation") {
  SyntheticModelConfig c;
  CHECK_NOTHROW(validate(c));
  auto bad = [](auto edit, const char* needle) {
    SyntheticModelConfig x;
    edit(x);
    CHECK_THROWS_WITH_AS(validate(x), doctest::Contains(needle), std::invalid_argument);
  };
  bad([](auto& x) { x.n_heads = 7; }, "not divisible by --heads");
  bad([](auto& x) { x.n_kv_heads = 3; }, "not a multiple of --kv-heads");
  bad([](auto& x) { x.type = GgmlType::Q4_0, x.ffn = 1000; }, "--ffn 1000 is not a multiple");
  bad([](auto& x) { x.type = GgmlType::Q8_0, x.dim = 240, x.n_heads = 8, x.n_kv_heads = 4; }, "--dim 240");
  bad([](auto& x) { x.type = GgmlType::IQ2_XXS; }, "--type IQ2_XXS cannot be written");
  bad([](auto& x) { x.output_type = GgmlType::Q8_K; }, "--output-type Q8_K cannot be written");
  bad([](auto& x) { x.type = GgmlType::Q4_K, x.ffn = 384; }, "--ffn 384 is not a multiple of the Q4_K block size 256");
  bad([](auto& x) { x.vocab = 100; }, "--vocab");
  bad([](auto& x) { x.sparsity = 1.0; }, "--sparsity");
  bad([](auto& x) { x.hot_fraction = 0; }, "--hot-fraction");
  bad([](auto& x) { x.activation = "tanh"; }, "--activation");
  bad([](auto& x) { x.n_layers = 0; }, "--layers");
  CHECK(parse_weight_type("q5_0") == GgmlType::Q5_0);
  CHECK(parse_weight_type("IQ4_xs") == GgmlType::IQ4_XS);
  CHECK_THROWS_WITH_AS(parse_weight_type("iq2_xxs"), doctest::Contains("IQ2_XXS cannot be written"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(parse_weight_type("q9_9"), doctest::Contains("unknown weight type 'q9_9'"), std::invalid_argument);
  CHECK(parse_weight_type("Q4_0") == GgmlType::Q4_0);
  apply_shape_preset(c, "tinyllama-1.1b");
  CHECK(c.n_layers == 22);
  CHECK(c.dim == 2048);
  CHECK(c.ffn == 5632);
  CHECK(c.n_heads == 32);
  CHECK(c.n_kv_heads == 4);
  CHECK(c.vocab == 512);
  CHECK_NOTHROW(validate(c));
  apply_shape_preset(c, "llama-7b");
  CHECK(c.dim == 4096);
  CHECK(c.ffn == 11008);
  CHECK(c.n_kv_heads == 32);
  CHECK_THROWS_AS(apply_shape_preset(c, "gpt-5"), std::invalid_argument);
}

TEST_CASE("synthetic model: layout, metadata and the bias channel") {
  for (GgmlType type : {GgmlType::F32, GgmlType::Q4_0}) {
    for (bool tied : {false, true}) {
      CAPTURE(type_name(static_cast<uint32_t>(type)));
      CAPTURE(tied);
      SyntheticModelConfig c;
      c.n_layers = 2;
      c.dim = 128;
      c.ffn = 384;
      c.n_heads = 4;
      c.n_kv_heads = 2;
      c.vocab = 300;
      c.type = type;
      c.output_type = type == GgmlType::F32 ? GgmlType::F32 : GgmlType::Q8_0;
      c.tied = tied;
      const auto path = synth_path("layout.gguf");
      const auto report = write_synthetic_model(c, path);
      CHECK(report.n_tensors == (tied ? 20u : 21u));
      CHECK(report.file_bytes == std::filesystem::file_size(path));
      const GgufFile f = GgufFile::open(path);

      CHECK(f.get_string("general.architecture") == "llama");
      CHECK(f.get_int("llama.block_count") == 2);
      CHECK(f.get_int("llama.context_length") == 2048);
      CHECK(f.get_int("llama.embedding_length") == 128);
      CHECK(f.get_int("llama.feed_forward_length") == 384);
      CHECK(f.get_int("llama.attention.head_count") == 4);
      CHECK(f.get_int("llama.attention.head_count_kv") == 2);
      CHECK(f.get_float("llama.attention.layer_norm_rms_epsilon") == doctest::Approx(1e-5));
      CHECK(f.get_float("llama.rope.freq_base") == 10000.0);
      CHECK(f.get_int("llama.rope.dimension_count") == 32);
      CHECK(f.get_int("general.file_type") == (type == GgmlType::F32 ? 0 : 2));
      CHECK(f.has("general.name"));
      CHECK(f.get_string("actinfer.ffn_activation") == "relu");
      CHECK(f.get_string("tokenizer.ggml.model") == "gpt2");
      CHECK(f.get_string("tokenizer.ggml.pre") == "default");
      CHECK(f.get_string_array("tokenizer.ggml.tokens")->size() == 300);
      CHECK(f.get_int_array("tokenizer.ggml.token_type")->size() == 300);
      CHECK(f.get_string_array("tokenizer.ggml.merges")->size() == 41);
      CHECK(f.get_int("tokenizer.ggml.eos_token_id") == 297);
      CHECK(f.get_int("tokenizer.ggml.bos_token_id") == 297);
      CHECK(f.get_bool("tokenizer.ggml.add_bos_token") == false);

      auto expect = [&](const std::string& name, GgmlType t, std::vector<int64_t> shape) {
        const TensorInfo* ti = f.find_tensor(name);
        REQUIRE_MESSAGE(ti, name);
        CHECK_MESSAGE(ti->type == t, name);
        CHECK_MESSAGE(ti->shape == shape, name);
      };
      expect("token_embd.weight", tied ? c.output_type : type, {128, 300});
      expect("output_norm.weight", GgmlType::F32, {128});
      if (tied) CHECK(f.find_tensor("output.weight") == nullptr);
      else expect("output.weight", c.output_type, {128, 300});
      for (int l = 0; l < 2; ++l) {
        const std::string pre = "blk." + std::to_string(l) + ".";
        expect(pre + "attn_norm.weight", GgmlType::F32, {128});
        expect(pre + "attn_q.weight", type, {128, 128});
        expect(pre + "attn_k.weight", type, {128, 64});
        expect(pre + "attn_v.weight", type, {128, 64});
        expect(pre + "attn_output.weight", type, {128, 128});
        expect(pre + "ffn_norm.weight", GgmlType::F32, {128});
        expect(pre + "ffn_gate.weight", type, {128, 384});
        expect(pre + "ffn_up.weight", type, {128, 384});
        expect(pre + "ffn_down.weight", type, {384, 128});
      }

      // Every embedding carries the same large constant at dimension 0.
      const float bias = bias_channel_value(128);
      CHECK(f.get_float("actinfer.synthetic.bias_value") == bias);
      const Mat emb = load(f, "token_embd.weight");
      double rest_sq = 0;
      bool all_bias = true;
      for (int64_t r = 0; r < emb.rows; ++r) {
        all_bias = all_bias && emb.row(r)[0] == bias;
        for (int64_t j = 1; j < emb.cols; ++j) rest_sq += emb.row(r)[j] * emb.row(r)[j];
      }
      CHECK(all_bias);
      const double rest_rms = std::sqrt(rest_sq / (emb.rows * (emb.cols - 1)));
      CHECK(rest_rms > 0.5);
      CHECK(rest_rms < 1.5);
      CHECK(bias > 3 * rest_rms);

      // Nothing writes dimension 0 of the residual stream; nothing but the gate reads it.
      for (int l = 0; l < 2; ++l) {
        const std::string pre = "blk." + std::to_string(l) + ".";
        for (const char* w : {"attn_output.weight", "ffn_down.weight"}) {
          const Mat m = load(f, (pre + w));
          CHECK_MESSAGE(std::all_of(m.row(0), m.row(0) + m.cols, [](float x) { return x == 0.0f; }), (pre + w));
          CHECK(std::any_of(m.row(1), m.row(1) + m.cols, [](float x) { return x != 0.0f; }));
        }
        for (const char* w : {"attn_q.weight", "attn_k.weight", "attn_v.weight", "ffn_up.weight"}) {
          const Mat m = load(f, (pre + w));
          bool zero = true;
          for (int64_t r = 0; r < m.rows; ++r) zero = zero && m.row(r)[0] == 0.0f;
          CHECK_MESSAGE(zero, (pre + w));
        }
        const Mat gate = load(f, pre + "ffn_gate.weight");
        int negative = 0;
        for (int64_t r = 0; r < gate.rows; ++r) negative += gate.row(r)[0] < 0;
        CHECK(negative > gate.rows / 2);  // most neurons are biased off
        const Mat norm = load(f, pre + "ffn_norm.weight");
        CHECK(norm.v[0] == 1.0f);
      }
    }
  }
}

TEST_CASE("synthetic model: layer-0 gate activations are sparse and follow a power law") {
  SyntheticModelConfig c;  // make-model's defaults: 4 x 256, ffn 1024, relu, sparsity 0.9
  c.type = GgmlType::Q4_0;
  c.output_type = GgmlType::Q8_0;
  const auto path = synth_path("stats.gguf");
  write_synthetic_model(c, path);
  const GgufFile f = GgufFile::open(path);
  const Mat emb = load(f, "token_embd.weight");
  const Mat gate = load(f, "blk.0.ffn_gate.weight");
  const Mat norm = load(f, "blk.0.ffn_norm.weight");

  // Gate pre-activations of 200 random tokens' normalized embeddings.
  const std::vector<int> tokens = sample_tokens(200, c.vocab, 7);
  std::vector<int> counts(c.ffn, 0);
  long active = 0;
  for (int t : tokens) {
    const std::vector<float> x(emb.row(t), emb.row(t) + emb.cols);
    const std::vector<float> g = matvec(gate, rmsnorm(x, norm.v, c.rms_eps));
    for (int i = 0; i < c.ffn; ++i)
      if (g[i] > 0) ++counts[i], ++active;
  }
  const double active_fraction = static_cast<double>(active) / (tokens.size() * c.ffn);
  const double share = top10_share(counts);
  MESSAGE("layer 0 (embeddings only): active " << active_fraction << ", top-10% share " << share);
  CHECK(active_fraction > 0.07);
  CHECK(active_fraction < 0.13);
  CHECK(share > 0.5);
  // Many neurons stay cold: over 200 tokens a good part never fires.
  const auto silent = std::count(counts.begin(), counts.end(), 0);
  CHECK(silent > c.ffn / 50);
}

TEST_CASE("synthetic model: a one-token forward pass keeps every layer sparse and the logits sane") {
  // With one position, attention returns V, so the whole model runs in a few lines.
  SyntheticModelConfig c;
  c.n_layers = 6;
  c.dim = 192;
  c.ffn = 768;
  c.n_heads = 6;
  c.n_kv_heads = 2;
  c.type = GgmlType::Q8_0;
  const auto path = synth_path("forward.gguf");
  write_synthetic_model(c, path);
  const GgufFile f = GgufFile::open(path);
  const Mat emb = load(f, "token_embd.weight");
  const Mat out = load(f, "output.weight");
  const Mat out_norm = load(f, "output_norm.weight");
  struct Layer {
    Mat an, v, o, fn, g, u, d;
  };
  std::vector<Layer> layers;
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string pre = "blk." + std::to_string(l) + ".";
    layers.push_back({load(f, pre + "attn_norm.weight"), load(f, pre + "attn_v.weight"), load(f, pre + "attn_output.weight"),
                      load(f, pre + "ffn_norm.weight"), load(f, pre + "ffn_gate.weight"), load(f, pre + "ffn_up.weight"),
                      load(f, pre + "ffn_down.weight")});
  }
  const int hd = c.dim / c.n_heads, group = c.n_heads / c.n_kv_heads;
  const std::vector<int> tokens = sample_tokens(150, c.vocab, 11);
  std::vector<std::vector<int>> counts(c.n_layers, std::vector<int>(c.ffn, 0));
  double logit_var = 0;
  for (int t : tokens) {
    std::vector<float> x(emb.row(t), emb.row(t) + emb.cols);
    for (int l = 0; l < c.n_layers; ++l) {
      const Layer& L = layers[l];
      const std::vector<float> v = matvec(L.v, rmsnorm(x, L.an.v, c.rms_eps));
      std::vector<float> attn(c.dim);
      for (int h = 0; h < c.n_heads; ++h)
        for (int i = 0; i < hd; ++i) attn[h * hd + i] = v[(h / group) * hd + i];
      const std::vector<float> ao = matvec(L.o, attn);
      const float x0 = x[0];
      for (int i = 0; i < c.dim; ++i) x[i] += ao[i];
      const std::vector<float> xn = rmsnorm(x, L.fn.v, c.rms_eps);
      const std::vector<float> g = matvec(L.g, xn), u = matvec(L.u, xn);
      std::vector<float> h(c.ffn);
      for (int i = 0; i < c.ffn; ++i) {
        h[i] = g[i] > 0 ? g[i] * u[i] : 0.0f;
        counts[l][i] += g[i] > 0;
      }
      const std::vector<float> fo = matvec(L.d, h);
      for (int i = 0; i < c.dim; ++i) x[i] += fo[i];
      CHECK(x[0] == x0);  // the bias channel stays constant
    }
    const std::vector<float> logits = matvec(out, rmsnorm(x, out_norm.v, c.rms_eps));
    const double mean = std::accumulate(logits.begin(), logits.end(), 0.0) / logits.size();
    double var = 0;
    for (float z : logits) var += (z - mean) * (z - mean);
    logit_var += var / logits.size();
  }
  for (int l = 0; l < c.n_layers; ++l) {
    const double active = std::accumulate(counts[l].begin(), counts[l].end(), 0.0) / (tokens.size() * c.ffn);
    const double share = top10_share(counts[l]);
    MESSAGE("layer " << l << ": active " << active << ", top-10% share " << share);
    CHECK(active > 0.07);
    CHECK(active < 0.13);
    CHECK(share > 0.5);
  }
  const double logit_sd = std::sqrt(logit_var / tokens.size());
  MESSAGE("logit sd " << logit_sd);
  CHECK(logit_sd > 1.0);
  CHECK(logit_sd < 5.0);
}

TEST_CASE("synthetic model: the same seed gives the same bytes, another seed others") {
  SyntheticModelConfig c;
  c.n_layers = 2;
  c.dim = 64;
  c.ffn = 128;
  c.n_heads = 4;
  c.n_kv_heads = 4;
  c.vocab = 400;
  c.type = GgmlType::Q4_0;
  const auto a = synth_path("seed_a.gguf"), b = synth_path("seed_b.gguf"), d = synth_path("seed_c.gguf");
  write_synthetic_model(c, a);
  write_synthetic_model(c, b);
  c.seed = 2;
  write_synthetic_model(c, d);
  const std::string ba = file_bytes(a), bb = file_bytes(b), bd = file_bytes(d);
  CHECK(ba.size() > 0);
  CHECK(ba == bb);
  CHECK(ba.size() == bd.size());
  CHECK(ba != bd);
}
