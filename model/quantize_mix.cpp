#include "model/quantize_mix.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <numeric>
#include <stdexcept>

namespace actinfer {

namespace {

struct MixRow {
  QuantMix mix;
  std::string_view name;
  GgmlType default_type;
};

constexpr MixRow kMixes[] = {
    {QuantMix::Q2_K, "Q2_K", GgmlType::Q2_K},       {QuantMix::Q3_K_S, "Q3_K_S", GgmlType::Q3_K},
    {QuantMix::Q3_K_M, "Q3_K_M", GgmlType::Q3_K},   {QuantMix::Q3_K_L, "Q3_K_L", GgmlType::Q3_K},
    {QuantMix::Q4_K_S, "Q4_K_S", GgmlType::Q4_K},   {QuantMix::Q4_K_M, "Q4_K_M", GgmlType::Q4_K},
    {QuantMix::Q5_K_S, "Q5_K_S", GgmlType::Q5_K},   {QuantMix::Q5_K_M, "Q5_K_M", GgmlType::Q5_K},
    {QuantMix::Q6_K, "Q6_K", GgmlType::Q6_K},       {QuantMix::Q8_0, "Q8_0", GgmlType::Q8_0},
    {QuantMix::Q4_0, "Q4_0", GgmlType::Q4_0},       {QuantMix::Q4_1, "Q4_1", GgmlType::Q4_1},
    {QuantMix::Q5_0, "Q5_0", GgmlType::Q5_0},       {QuantMix::Q5_1, "Q5_1", GgmlType::Q5_1},
    {QuantMix::IQ4_NL, "IQ4_NL", GgmlType::IQ4_NL}, {QuantMix::IQ4_XS, "IQ4_XS", GgmlType::IQ4_XS},
    {QuantMix::F16, "F16", GgmlType::F16},          {QuantMix::BF16, "BF16", GgmlType::BF16},
    {QuantMix::F32, "F32", GgmlType::F32},
};

const MixRow& row_of(QuantMix mix) {
  for (const MixRow& r : kMixes)
    if (r.mix == mix) return r;
  throw std::invalid_argument("unknown quantization mix " + std::to_string(static_cast<uint32_t>(mix)));
}

bool is_quantized(GgmlType t) { return t != GgmlType::F32 && t != GgmlType::F16 && t != GgmlType::BF16; }
int64_t block_of(GgmlType t) { return traits(t).block_elems; }

// Broad roles of tensors, as llama.cpp sorts them for its rules.
enum class Role { TokenEmbd, AttnQ, AttnK, AttnV, AttnOutput, FfnUp, FfnGate, FfnDown, Output, Other };

bool name_contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

Role role_of(const std::string& name) {
  if (name == "output.weight") return Role::Output;
  if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") return Role::TokenEmbd;
  // attn_qkv and attn_kv_b are treated like attn_v (llama.cpp: "more sensitive").
  if (name_contains(name, "attn_qkv.weight") || name_contains(name, "attn_kv_b.weight") || name_contains(name, "attn_v.weight"))
    return Role::AttnV;
  if (name_contains(name, "attn_k.weight")) return Role::AttnK;
  if (name_contains(name, "attn_q.weight")) return Role::AttnQ;
  if (name_contains(name, "attn_output.weight")) return Role::AttnOutput;
  if (name_contains(name, "ffn_up")) return Role::FfnUp;
  if (name_contains(name, "ffn_gate")) return Role::FfnGate;
  if (name_contains(name, "ffn_down")) return Role::FfnDown;
  return Role::Other;
}

// Dimensions after dropping trailing 1s (ggml_n_dims).
int n_dims(const std::vector<int64_t>& shape) {
  int n = static_cast<int>(shape.size());
  while (n > 1 && shape[static_cast<size_t>(n - 1)] == 1) --n;
  return n;
}

bool may_quantize(const QuantTensorIn& t) {
  if (n_dims(t.shape) < 2) return false;
  const std::string& n = t.name;
  if (n.size() < 6 || n.compare(n.size() - 6, 6, "weight") != 0) return false;
  for (std::string_view keep : {"_norm.weight", "ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj",
                                "ssm_conv1d", "attn_rel_b.weight", "position_embd", "token_types.weight"})
    if (name_contains(n, keep)) return false;
  return true;
}

int layer_of(const std::string& name) {
  int layer = -1;
  if (std::sscanf(name.c_str(), "blk.%d.", &layer) != 1) return -1;
  return layer;
}

bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

class MixRules {
 public:
  MixRules(QuantMix mix, const QuantModelInfo& m, bool tied) : mix_(mix), m_(m), tied_(tied) {}
  int n_attn_v = 0;

  GgmlType choose(const QuantTensorIn& t, GgmlType type) {
    using T = GgmlType;
    using M = QuantMix;
    const Role role = role_of(t.name);
    const bool falcon = m_.arch == "falcon";
    const int gqa = m_.n_head_kv > 0 ? m_.n_head / m_.n_head_kv : 1;
    auto any = [this](std::initializer_list<M> ms) { return std::find(ms.begin(), ms.end(), mix_) != ms.end(); };

    if (role == Role::Output || (tied_ && role == Role::TokenEmbd)) {
      if (falcon || t.shape[0] % block_of(type) != 0) return T::Q8_0;
      return type != T::Q8_0 ? T::Q6_K : type;
    }
    if (role == Role::TokenEmbd) return type;
    if (role == Role::AttnV) {
      const int i = i_attn_v_++;
      if (mix_ == M::Q2_K) type = gqa >= 4 ? T::Q4_K : T::Q3_K;
      else if (mix_ == M::Q3_K_M) type = i < 2 ? T::Q5_K : T::Q4_K;
      else if (mix_ == M::Q3_K_L) type = T::Q5_K;
      else if (any({M::IQ4_NL, M::IQ4_XS}) && gqa >= 4) type = T::Q5_K;
      else if (any({M::Q4_K_M, M::Q5_K_M}) && use_more_bits(i, n_attn_v)) type = T::Q6_K;
      else if (mix_ == M::Q4_K_S && i < 4) type = T::Q5_K;
      // llama.cpp's 70B llama: 8 heads share each attn_v, so it is small and gets more bits.
      if (is_70b() && (type == T::Q3_K || type == T::Q4_K)) type = T::Q5_K;
      if (m_.n_expert == 8) type = T::Q8_0;
      return type;
    }
    if (role == Role::AttnK) return m_.n_expert == 8 ? T::Q8_0 : type;
    if (role == Role::FfnDown) {
      const int i = layer(t, i_ffn_down_++);
      const int n = m_.n_layer;
      if (mix_ == M::Q2_K) type = T::Q3_K;
      else if (mix_ == M::Q3_K_M) type = i < n / 16 ? T::Q5_K : (!falcon || use_more_bits(i, n)) ? T::Q4_K : T::Q3_K;
      else if (mix_ == M::Q3_K_L) type = falcon ? T::Q4_K : T::Q5_K;
      else if (mix_ == M::Q4_K_M) {
        if (falcon) type = i < n / 16 ? T::Q6_K : use_more_bits(i, n) ? T::Q5_K : T::Q4_K;
        else if (use_more_bits(i, n)) type = T::Q6_K;
      } else if (i < n / 8 && any({M::IQ4_NL, M::IQ4_XS})) type = T::Q5_K;
      else if (mix_ == M::Q5_K_M && use_more_bits(i, n)) type = T::Q6_K;
      else if (mix_ == M::Q4_K_S && !falcon && i < n / 8) type = T::Q5_K;
      return type;
    }
    if (role == Role::AttnOutput) {
      if (!falcon) {
        if (m_.n_expert == 8) {
          if (any({M::Q2_K, M::Q3_K_S, M::Q3_K_M, M::IQ4_NL, M::Q4_K_S, M::Q4_K_M, M::IQ4_XS})) type = T::Q5_K;
        } else if (mix_ == M::Q2_K) type = T::Q3_K;
        else if (mix_ == M::Q3_K_M) type = T::Q4_K;
        else if (mix_ == M::Q3_K_L) type = T::Q5_K;
      } else if (mix_ == M::Q3_K_L) {
        type = T::Q4_K;
      }
      return type;
    }
    if (role == Role::FfnGate) layer(t, i_ffn_gate_++);
    if (role == Role::FfnUp) layer(t, i_ffn_up_++);
    return type;
  }

 private:
  bool is_70b() const { return m_.arch == "llama" && m_.n_layer == 80 && m_.n_head != m_.n_head_kv; }

  // The layer of an FFN tensor: its position among its kind, or (mixture of experts, whose
  // tensors need not come in order) the number in its name.
  int layer(const QuantTensorIn& t, int counter) const {
    if (m_.n_expert <= 1) return counter;
    const int i = layer_of(t.name);
    if (i < 0 || i >= m_.n_layer)
      throw std::runtime_error("tensor " + t.name + ": no layer in [0, " + std::to_string(m_.n_layer) + ") in its name");
    return i;
  }

  QuantMix mix_;
  const QuantModelInfo& m_;
  bool tied_;
  int i_attn_v_ = 0, i_ffn_down_ = 0, i_ffn_gate_ = 0, i_ffn_up_ = 0;
};

// The type to use when the chosen one's block does not divide the rows.
GgmlType fallback_type(const QuantTensorIn& t, GgmlType type) {
  using T = GgmlType;
  T to;
  switch (type) {
    case T::Q2_K:
    case T::Q3_K: to = T::Q4_0; break;
    case T::Q4_K: to = T::Q5_0; break;
    case T::Q5_K: to = T::Q5_1; break;
    case T::Q6_K: to = T::Q8_0; break;
    case T::IQ4_XS: to = T::IQ4_NL; break;
    default:
      throw std::runtime_error("tensor " + t.name + ": rows of " + std::to_string(t.shape[0]) +
                               " elements are not a multiple of " + std::to_string(block_of(type)) + " (required for " +
                               std::string(traits(type).name) + "), and " + std::string(traits(type).name) +
                               " has no fallback type");
  }
  return t.shape[0] % block_of(to) == 0 ? to : T::F16;
}

}  // namespace

std::optional<QuantMix> parse_quant_mix(std::string_view name) {
  std::string up(name);
  for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (up == "Q3_K") return QuantMix::Q3_K_M;
  if (up == "Q4_K") return QuantMix::Q4_K_M;
  if (up == "Q5_K") return QuantMix::Q5_K_M;
  for (const MixRow& r : kMixes)
    if (r.name == up) return r.mix;
  return std::nullopt;
}

std::string_view quant_mix_name(QuantMix mix) { return row_of(mix).name; }
GgmlType quant_mix_default_type(QuantMix mix) { return row_of(mix).default_type; }

std::string quant_mix_names() {
  std::string s;
  for (const MixRow& r : kMixes) s += (s.empty() ? "" : ", ") + std::string(r.name);
  return s;
}

std::vector<QuantTensorPlan> plan_quant_mix(QuantMix mix, const QuantModelInfo& model,
                                            const std::vector<QuantTensorIn>& tensors, bool pure) {
  // llama.cpp's order: by block number (tensors outside blocks count as -1), then by name.
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const int la = layer_of(tensors[a].name), lb = layer_of(tensors[b].name);
    if (la != lb) return la < lb;
    return tensors[a].name < tensors[b].name;
  });

  bool tied = true;
  int n_attn_v = 0;
  for (const QuantTensorIn& t : tensors) {
    if (t.name == "output.weight") tied = false;
    if (role_of(t.name) == Role::AttnV) ++n_attn_v;
  }
  MixRules rules(mix, model, tied);
  rules.n_attn_v = n_attn_v;

  const GgmlType default_type = quant_mix_default_type(mix);
  std::vector<QuantTensorPlan> plan;
  plan.reserve(tensors.size());
  for (size_t idx : order) {
    const QuantTensorIn& t = tensors[idx];
    QuantTensorPlan p{idx, t.type, false};
    if (may_quantize(t)) {
      p.type = default_type;
      if (is_quantized(default_type)) {
        if (!pure) p.type = rules.choose(t, p.type);
        if (t.shape[0] % block_of(p.type) != 0) {
          p.type = fallback_type(t, p.type);
          p.fallback = true;
        }
      }
    }
    plan.push_back(p);
  }
  return plan;
}

}  // namespace actinfer
