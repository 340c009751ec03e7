// llama.cpp's mix rules (model/quantize_mix.h) on the default model's tensor list: the counts
// are those of the files llama-quantize writes for SmolLM2-135M (issue 14: its Q4_K_M file has
// 166 of 272 tensors in Q5_0, as rows 576 wide are not a multiple of 256).
#include <doctest/doctest.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/quantize_mix.h"

using namespace actinfer;

namespace {

// SmolLM2-135M: 30 layers, d 576, ffn 1536, 9 heads / 3 kv heads (64 wide), tied embeddings.
std::vector<QuantTensorIn> smollm2_tensors() {
  std::vector<QuantTensorIn> t;
  t.push_back({"token_embd.weight", GgmlType::F16, {576, 49152}});
  t.push_back({"output_norm.weight", GgmlType::F32, {576}});
  for (int i = 0; i < 30; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    t.push_back({b + "attn_norm.weight", GgmlType::F32, {576}});
    t.push_back({b + "attn_q.weight", GgmlType::F16, {576, 576}});
    t.push_back({b + "attn_k.weight", GgmlType::F16, {576, 192}});
    t.push_back({b + "attn_v.weight", GgmlType::F16, {576, 192}});
    t.push_back({b + "attn_output.weight", GgmlType::F16, {576, 576}});
    t.push_back({b + "ffn_norm.weight", GgmlType::F32, {576}});
    t.push_back({b + "ffn_gate.weight", GgmlType::F16, {576, 1536}});
    t.push_back({b + "ffn_up.weight", GgmlType::F16, {576, 1536}});
    t.push_back({b + "ffn_down.weight", GgmlType::F16, {1536, 576}});
  }
  return t;
}

QuantModelInfo smollm2_info() { return {"llama", 30, 9, 3, 0}; }

std::map<std::string, int> counts(const std::vector<QuantTensorPlan>& plan) {
  std::map<std::string, int> c;
  for (const QuantTensorPlan& p : plan) c[std::string(traits(p.type).name)]++;
  return c;
}

GgmlType type_of(const std::vector<QuantTensorIn>& in, const std::vector<QuantTensorPlan>& plan, const std::string& name) {
  for (const QuantTensorPlan& p : plan)
    if (in[p.index].name == name) return p.type;
  FAIL("no tensor " << name);
  return GgmlType::F32;
}

}  // namespace

TEST_CASE("quantize mix: SmolLM2 Q4_K_M has llama.cpp's 166 Q5_0 fallbacks of 272") {
  const auto in = smollm2_tensors();
  const auto plan = plan_quant_mix(QuantMix::Q4_K_M, smollm2_info(), in);
  REQUIRE(plan.size() == 272);
  const auto c = counts(plan);
  CHECK(c.at("Q5_0") == 166);  // q, k, o, gate, up (150) + attn_v outside use_more_bits (16)
  CHECK(c.at("Q8_0") == 15);   // attn_v in use_more_bits layers (Q6_K -> Q8_0) + tied token_embd
  CHECK(c.at("Q6_K") == 14);   // ffn_down (1536 wide) in use_more_bits layers
  CHECK(c.at("Q4_K") == 16);
  CHECK(c.at("F32") == 61);
  // use_more_bits(i, 30): i < 3, i >= 26, or (i - 3) % 3 == 2.
  CHECK(type_of(in, plan, "blk.2.ffn_down.weight") == GgmlType::Q6_K);
  CHECK(type_of(in, plan, "blk.3.ffn_down.weight") == GgmlType::Q4_K);
  CHECK(type_of(in, plan, "blk.5.ffn_down.weight") == GgmlType::Q6_K);
  CHECK(type_of(in, plan, "blk.25.attn_v.weight") == GgmlType::Q5_0);
  CHECK(type_of(in, plan, "blk.26.attn_v.weight") == GgmlType::Q8_0);
  CHECK(type_of(in, plan, "token_embd.weight") == GgmlType::Q8_0);
  // llama.cpp's order: outside the blocks first, then by block number (10 after 9), by name.
  CHECK(in[plan[0].index].name == "output_norm.weight");
  CHECK(in[plan[1].index].name == "token_embd.weight");
  CHECK(in[plan[2].index].name == "blk.0.attn_k.weight");
  CHECK(in[plan[2 + 9 * 9].index].name == "blk.9.attn_k.weight");
  CHECK(in[plan[2 + 9 * 10].index].name == "blk.10.attn_k.weight");
}

TEST_CASE("quantize mix: SmolLM2 Q3_K_M and Q2_K") {
  const auto in = smollm2_tensors();
  auto c = counts(plan_quant_mix(QuantMix::Q3_K_M, smollm2_info(), in));
  CHECK(c["Q4_0"] == 120);  // q, k, gate, up: Q3_K -> Q4_0
  CHECK(c["Q5_0"] == 58);   // attn_output and attn_v (layers 2..29): Q4_K -> Q5_0
  CHECK(c["Q5_1"] == 2);    // attn_v of layers 0, 1: Q5_K -> Q5_1
  CHECK(c["Q5_K"] == 1);    // ffn_down of layer 0 (< 30 / 16)
  CHECK(c["Q4_K"] == 29);
  CHECK(c["Q8_0"] == 1);
  CHECK(c["F32"] == 61);

  c = counts(plan_quant_mix(QuantMix::Q2_K, smollm2_info(), in));
  CHECK(c["Q4_0"] == 180);  // q, k, v (gqa 3 < 4: Q3_K), o (Q3_K), gate, up
  CHECK(c["Q3_K"] == 30);   // ffn_down
  CHECK(c["Q8_0"] == 1);

  c = counts(plan_quant_mix(QuantMix::IQ4_XS, smollm2_info(), in));
  CHECK(c["IQ4_NL"] == 180);
  CHECK(c["Q5_K"] == 3);  // ffn_down of the first 30 / 8 layers
  CHECK(c["IQ4_XS"] == 27);
}

TEST_CASE("quantize mix: rows that fit, GQA and untied output") {
  std::vector<QuantTensorIn> in;
  in.push_back({"token_embd.weight", GgmlType::F32, {512, 1000}});
  in.push_back({"output.weight", GgmlType::F32, {512, 1000}});
  for (int i = 0; i < 8; ++i) {
    const std::string b = "blk." + std::to_string(i) + ".";
    in.push_back({b + "attn_v.weight", GgmlType::F32, {512, 128}});
    in.push_back({b + "attn_output.weight", GgmlType::F32, {512, 512}});
    in.push_back({b + "ffn_down.weight", GgmlType::F32, {1024, 512}});
  }
  const QuantModelInfo info{"llama", 8, 8, 2, 0};  // gqa 4
  auto plan = plan_quant_mix(QuantMix::Q2_K, info, in);
  CHECK(type_of(in, plan, "output.weight") == GgmlType::Q6_K);
  CHECK(type_of(in, plan, "token_embd.weight") == GgmlType::Q2_K);  // untied: the mix's type
  CHECK(type_of(in, plan, "blk.3.attn_v.weight") == GgmlType::Q4_K);  // gqa >= 4
  CHECK(type_of(in, plan, "blk.3.attn_output.weight") == GgmlType::Q3_K);
  for (const QuantTensorPlan& p : plan) CHECK_FALSE(p.fallback);

  plan = plan_quant_mix(QuantMix::Q4_K_S, info, in);
  CHECK(type_of(in, plan, "blk.3.attn_v.weight") == GgmlType::Q5_K);  // i < 4
  CHECK(type_of(in, plan, "blk.4.attn_v.weight") == GgmlType::Q4_K);
  CHECK(type_of(in, plan, "blk.0.ffn_down.weight") == GgmlType::Q5_K);  // i < 8 / 8
  CHECK(type_of(in, plan, "blk.1.ffn_down.weight") == GgmlType::Q4_K);

  plan = plan_quant_mix(QuantMix::Q4_K_M, info, in, /*pure=*/true);
  CHECK(type_of(in, plan, "output.weight") == GgmlType::Q4_K);
  CHECK(type_of(in, plan, "blk.0.ffn_down.weight") == GgmlType::Q4_K);

  plan = plan_quant_mix(QuantMix::F16, info, in);
  CHECK(type_of(in, plan, "output.weight") == GgmlType::F16);
}

TEST_CASE("quantize mix: rows no block fits") {
  // 48 wide: Q4_K -> Q5_0 does not fit either -> F16; Q4_0 has no fallback at all.
  std::vector<QuantTensorIn> in{{"blk.0.ffn_up.weight", GgmlType::F32, {48, 64}}};
  const QuantModelInfo info{"llama", 1, 1, 1, 0};
  auto plan = plan_quant_mix(QuantMix::Q4_K_M, info, in);
  CHECK(plan[0].type == GgmlType::F16);
  CHECK(plan[0].fallback);
  CHECK_THROWS_WITH_AS(plan_quant_mix(QuantMix::Q4_0, info, in),
                       doctest::Contains("blk.0.ffn_up.weight: rows of 48 elements are not a multiple of 32"),
                       std::runtime_error);
}

TEST_CASE("quantize mix: names") {
  CHECK(parse_quant_mix("q4_k_m") == QuantMix::Q4_K_M);
  CHECK(parse_quant_mix("Q4_K") == QuantMix::Q4_K_M);
  CHECK(parse_quant_mix("iq4_xs") == QuantMix::IQ4_XS);
  CHECK_FALSE(parse_quant_mix("Q1_0").has_value());
  CHECK(quant_mix_name(QuantMix::Q3_K_L) == "Q3_K_L");
  CHECK(static_cast<uint32_t>(QuantMix::Q4_K_M) == 15);  // llama_ftype, written as general.file_type
}
