// The type table (kernels/ggml_type.h): names, what each readable type points to, and how a
// model file with types this engine cannot read is refused (after its architecture).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "kernels/ggml_type.h"
#include "model/gguf_writer.h"
#include "model/model_weights.h"
#include "tests/test_data.h"

using namespace actinfer;

namespace {

// A GGUF file with the metadata ModelConfig needs and two tensors: the token embedding (F32)
// and blk.0.ffn_down.weight of `type` (256 x 32, zero bytes: valid for every type here).
std::filesystem::path small_file(const std::string& tag, const std::string& arch, GgmlType type) {
  GgufWriter w;
  w.add_string("general.architecture", arch);
  w.add_u32(arch + ".block_count", 1);
  w.add_u32(arch + ".embedding_length", 32);
  w.add_u32(arch + ".feed_forward_length", 256);
  w.add_u32(arch + ".attention.head_count", 2);
  w.add_tensor("token_embd.weight", GgmlType::F32, {32, 300},
               std::vector<std::byte>(static_cast<size_t>(GgufWriter::tensor_bytes(GgmlType::F32, {32, 300}))));
  w.add_tensor("blk.0.ffn_down.weight", type, {256, 32},
               std::vector<std::byte>(static_cast<size_t>(GgufWriter::tensor_bytes(type, {256, 32}))));
  const auto path = testing::test_data_path("weight_types_" + tag + ".gguf");
  w.write(path);
  return path;
}

std::string weights_load_error(const std::filesystem::path& path) {
  try {
    ModelWeights::load(path);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("type table: names, ids and unknown ids") {
  CHECK(type_name(6) == "Q5_0");
  CHECK(type_name(GgmlType::Q5_1) == "Q5_1");
  CHECK(type_name(10) == "Q2_K");
  CHECK(type_name(11) == "Q3_K");
  CHECK(type_name(20) == "IQ4_NL");
  CHECK(type_name(23) == "IQ4_XS");
  CHECK(type_name(17) == "IQ2_XS");  // a ggml type this engine does not read: still named
  CHECK(type_name(4) == "type 4");   // ids ggml retired or never used
  CHECK(type_name(99) == "type 99");
  CHECK(type_from_name("q5_0") == GgmlType::Q5_0);
  CHECK(type_from_name("IQ4_XS") == GgmlType::IQ4_XS);
  CHECK_FALSE(type_from_name("q4_k_m").has_value());  // a file mix, not a tensor type
  CHECK(weight_type_names() == "F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, BF16");
  CHECK_FALSE(is_weight_type(GgmlType::Q8_1));  // activation types
  CHECK_FALSE(is_weight_type(GgmlType::Q8_K));
  CHECK_FALSE(is_weight_type(GgmlType::IQ2_XS));
  CHECK_THROWS_WITH_AS(row_bytes(static_cast<GgmlType>(99), 32), "unknown tensor type 99", std::invalid_argument);
}

TEST_CASE("type table: every weight type has its kernels, an activation type whose blocks divide its own, a down^T type") {
  for (uint32_t id = 0; id < 64; ++id) {
    const TypeTraits* t = find_type_traits(id);
    if (t == nullptr || !t->weight) continue;
    CAPTURE(t->name);
    CHECK((t->dequantize != nullptr));
    CHECK((t->vec_dot != nullptr));
    const TypeTraits& act = type_row(t->vec_dot_type);
    CHECK((act.quantize != nullptr));  // the activation can be made
    CHECK(t->block_elems % act.block_elems == 0);
    CHECK((t->down_t_type == GgmlType::F32 || t->down_t_type == GgmlType::F16 || t->down_t_type == GgmlType::Q8_0));
    CHECK(type_row(t->down_t_type).cuda);  // the cuda backend's sparse kernels read every down^T type
  }
  // ggml's activation types for the types added with the table.
  CHECK(type_row(GgmlType::Q5_0).vec_dot_type == GgmlType::Q8_0);
  CHECK(type_row(GgmlType::Q5_1).vec_dot_type == GgmlType::Q8_1);
  CHECK(type_row(GgmlType::IQ4_NL).vec_dot_type == GgmlType::Q8_0);
  CHECK(type_row(GgmlType::Q2_K).vec_dot_type == GgmlType::Q8_K);
  CHECK(type_row(GgmlType::Q3_K).vec_dot_type == GgmlType::Q8_K);
  CHECK(type_row(GgmlType::IQ4_XS).vec_dot_type == GgmlType::Q8_K);
}

TEST_CASE("model load: a tensor type this engine cannot read is named, with the tensor and the readable types") {
  const std::string e = weights_load_error(small_file("iq2_xs", "llama", GgmlType::IQ2_XS));
  CHECK(e.find("tensor 'blk.0.ffn_down.weight' has type IQ2_XS, which actinfer cannot read (supported: F32, F16") !=
        std::string::npos);
  CHECK(e.find("IQ4_XS") != std::string::npos);
}

TEST_CASE("model load: the architecture is checked before the tensor types") {
  // (mamba: an architecture no helper adds; gemma3 files fail the same way until it is supported)
  const std::string e = weights_load_error(small_file("mamba_iq2_xs", "mamba", GgmlType::IQ2_XS));
  CHECK(e.find("architecture 'mamba' is not supported") != std::string::npos);
  CHECK(e.find("IQ2_XS") == std::string::npos);
}

TEST_CASE("model load: the new weight types pass the type check") {
  for (GgmlType t : {GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::IQ4_NL, GgmlType::IQ4_XS}) {
    CAPTURE(type_name(t));
    const std::string e = weights_load_error(small_file("readable_" + type_name(t), "llama", t));
    CHECK(e.find("cannot read") == std::string::npos);  // it fails later, on the missing tensors
    CHECK(e.find("missing tensor") != std::string::npos);
  }
}
