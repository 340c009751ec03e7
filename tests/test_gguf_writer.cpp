// GgufWriter -> GgufFile round trips, and the writer's refusals.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kernels/ggml_type.h"
#include "model/gguf_file.h"
#include "model/gguf_writer.h"

using namespace actinfer;

namespace {

std::filesystem::path writer_test_path(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(ACTINFER_TEST_DATA_DIR) / "gguf_writer";
  std::filesystem::create_directories(dir);
  return dir / name;
}

std::vector<std::byte> pattern_bytes(size_t n, uint8_t seed) {
  std::vector<std::byte> b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>((i * 131 + seed * 7 + (i >> 8)) & 0xFF);
  return b;
}

bool same_bytes(std::span<const std::byte> a, const std::vector<std::byte>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), b.size()) == 0;
}

std::vector<std::filesystem::path> leftovers(const std::filesystem::path& path) {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(path.parent_path()))
    if (e.path().filename().string().rfind(path.filename().string() + ".tmp", 0) == 0) out.push_back(e.path());
  return out;
}

}  // namespace

TEST_CASE("gguf writer: every metadata type round-trips through GgufFile") {
  GgufWriter w;
  w.add_u8("t.u8", 200);
  w.add_i8("t.i8", -100);
  w.add_u16("t.u16", 60000);
  w.add_i16("t.i16", -30000);
  w.add_u32("t.u32", 4000000000u);
  w.add_i32("t.i32", -2000000000);
  w.add_u64("t.u64", 0x123456789ABCDEFull);
  w.add_i64("t.i64", -0x123456789ABCDEFll);
  w.add_f32("t.f32", 1.5f);
  w.add_f64("t.f64", -2.25e100);
  w.add_bool("t.true", true);
  w.add_bool("t.false", false);
  w.add_string("t.str", "héllo wörld");
  w.add_string("t.empty", "");
  const std::vector<std::string> strs = {"a", "", "Ġthe", "<|im_end|>"};
  w.add_string_array("t.strs", strs);
  const std::vector<int32_t> i32s = {1, -2, 3, 2147483647};
  w.add_i32_array("t.i32s", i32s);
  const std::vector<uint32_t> u32s = {7, 4000000000u};
  w.add_u32_array("t.u32s", u32s);
  const std::vector<int64_t> i64s = {-5, 1ll << 40};
  w.add_i64_array("t.i64s", i64s);
  const std::vector<uint64_t> u64s = {9, 1ull << 50};
  w.add_u64_array("t.u64s", u64s);
  const std::vector<float> f32s = {0.5f, -1.25f, 3e20f};
  w.add_f32_array("t.f32s", f32s);
  const std::vector<double> f64s = {0.1, -0.2};
  w.add_f64_array("t.f64s", f64s);
  const std::vector<int8_t> i8s = {-1, 2};
  w.add_i8_array("t.i8s", i8s);
  const std::vector<uint16_t> u16s = {65535};
  w.add_u16_array("t.u16s", u16s);
  w.add_bool_array("t.bools", std::vector<bool>{true, false, true});
  w.add_i32_array("t.empty_arr", std::vector<int32_t>{});
  CHECK(w.kv_count() == 25);

  const auto path = writer_test_path("metadata.gguf");
  w.write(path);
  const GgufFile f = GgufFile::open(path);
  CHECK(f.version() == 3);
  CHECK(f.alignment() == 32);
  CHECK(f.metadata().size() == 26);  // + general.alignment
  CHECK(f.get_int("general.alignment") == 32);
  CHECK(f.find("general.alignment")->type == GgufValueType::U32);

  CHECK(f.find("t.u8")->type == GgufValueType::U8);
  CHECK(f.get_int("t.u8") == 200);
  CHECK(f.find("t.i8")->type == GgufValueType::I8);
  CHECK(f.get_int("t.i8") == -100);
  CHECK(f.find("t.u16")->type == GgufValueType::U16);
  CHECK(f.get_int("t.u16") == 60000);
  CHECK(f.find("t.i16")->type == GgufValueType::I16);
  CHECK(f.get_int("t.i16") == -30000);
  CHECK(f.find("t.u32")->type == GgufValueType::U32);
  CHECK(f.get_int("t.u32") == 4000000000ll);
  CHECK(f.find("t.i32")->type == GgufValueType::I32);
  CHECK(f.get_int("t.i32") == -2000000000);
  CHECK(f.find("t.u64")->type == GgufValueType::U64);
  CHECK(f.get_int("t.u64") == 0x123456789ABCDEFll);
  CHECK(f.find("t.i64")->type == GgufValueType::I64);
  CHECK(f.get_int("t.i64") == -0x123456789ABCDEFll);
  CHECK(f.find("t.f32")->type == GgufValueType::F32);
  CHECK(f.get_float("t.f32") == 1.5);
  CHECK(f.find("t.f64")->type == GgufValueType::F64);
  CHECK(f.get_float("t.f64") == -2.25e100);
  CHECK(f.find("t.true")->type == GgufValueType::BOOL);
  CHECK(f.get_bool("t.true") == true);
  CHECK(f.get_bool("t.false") == false);
  CHECK(f.find("t.str")->type == GgufValueType::STRING);
  CHECK(f.get_string("t.str") == "héllo wörld");
  CHECK(f.get_string("t.empty") == "");

  const auto s = f.get_string_array("t.strs");
  REQUIRE(s);
  REQUIRE(s->size() == strs.size());
  for (size_t i = 0; i < strs.size(); ++i) CHECK((*s)[i] == strs[i]);
  CHECK(f.find("t.strs")->array->element_type == GgufValueType::STRING);
  CHECK(f.find("t.i32s")->array->element_type == GgufValueType::I32);
  CHECK(f.get_int_array("t.i32s") == std::vector<int64_t>{1, -2, 3, 2147483647});
  CHECK(f.find("t.u32s")->array->element_type == GgufValueType::U32);
  CHECK(f.get_int_array("t.u32s") == std::vector<int64_t>{7, 4000000000ll});
  CHECK(f.get_int_array("t.i64s") == std::vector<int64_t>{-5, 1ll << 40});
  CHECK(f.get_int_array("t.u64s") == std::vector<int64_t>{9, 1ll << 50});
  CHECK(f.find("t.f32s")->array->element_type == GgufValueType::F32);
  CHECK(f.get_float_array("t.f32s") == f32s);
  CHECK(f.find("t.f64s")->array->element_type == GgufValueType::F64);
  CHECK(f.find("t.f64s")->array->size() == 2);
  CHECK(f.get_int_array("t.i8s") == std::vector<int64_t>{-1, 2});
  CHECK(f.get_int_array("t.u16s") == std::vector<int64_t>{65535});
  const GgufValue* bools = f.find("t.bools");
  REQUIRE(bools);
  CHECK(bools->array->element_type == GgufValueType::BOOL);
  REQUIRE(bools->array->size() == 3);
  CHECK(std::get<bool>(bools->array->at(0)) == true);
  CHECK(std::get<bool>(bools->array->at(1)) == false);
  CHECK(f.find("t.empty_arr")->array->empty());
  // Insertion order is kept.
  CHECK(f.metadata()[0].first == "t.u8");
  CHECK(f.metadata()[24].first == "t.empty_arr");
  CHECK(leftovers(path).empty());
}

TEST_CASE("gguf writer: tensors from buffers and streams round-trip, aligned") {
  GgufWriter w;
  w.add_string("general.architecture", "test");
  std::vector<float> fv(3 * 5);
  for (size_t i = 0; i < fv.size(); ++i) fv[i] = 0.25f * static_cast<float>(i) - 1.0f;
  w.add_tensor_f32("f32.odd", {5, 3}, fv);  // 60 bytes: the next offset needs padding
  const auto q8 = std::make_shared<const std::vector<std::byte>>(pattern_bytes(row_bytes(GgmlType::Q8_0, 64) * 3, 1));
  w.add_tensor("q8.shared", GgmlType::Q8_0, {64, 3}, q8);
  const auto q4 = pattern_bytes(row_bytes(GgmlType::Q4_0, 96) * 2 * 2, 2);
  w.add_tensor_stream("q4.stream", GgmlType::Q4_0, {96, 2, 2}, [&](GgufWriter::TensorSink& sink) {
    // In uneven pieces.
    sink.write(q4.data(), 7);
    sink.write(q4.data() + 7, 0);
    sink.write(q4.data() + 7, q4.size() - 7);
  });
  const auto f16 = pattern_bytes(2 * 3, 3);
  w.add_tensor("f16.tiny", GgmlType::F16, {3}, f16);
  const auto big = pattern_bytes(row_bytes(GgmlType::Q4_1, 256) * 4 * 2 * 3, 4);
  w.add_tensor("q41.4d", GgmlType::Q4_1, {256, 4, 2, 3}, big);
  CHECK(w.tensor_count() == 5);
  CHECK(w.tensor_data_bytes() == 60 + q8->size() + q4.size() + f16.size() + big.size());

  const auto path = writer_test_path("tensors.gguf");
  std::vector<std::string> progress_names;
  uint64_t final_done = 0;
  w.write(path, [&](const GgufWriter::Progress& p) {
    if (p.name) progress_names.push_back(*p.name);
    else final_done = p.bytes_done;
    CHECK(p.count == 5);
  });
  CHECK(progress_names == std::vector<std::string>{"f32.odd", "q8.shared", "q4.stream", "f16.tiny", "q41.4d"});
  CHECK(final_done == w.tensor_data_bytes());

  const GgufFile f = GgufFile::open(path);
  REQUIRE(f.tensors().size() == 5);
  CHECK(f.get_string("general.architecture") == "test");
  for (const TensorInfo& t : f.tensors()) {
    CHECK(t.offset % 32 == 0);
    CHECK(reinterpret_cast<uintptr_t>(f.tensor_data(t).data()) % 32 == 0);
  }
  const TensorInfo* t = f.find_tensor("f32.odd");
  REQUIRE(t);
  CHECK(t->type == GgmlType::F32);
  CHECK(t->shape == std::vector<int64_t>{5, 3});
  REQUIRE(t->n_bytes == 60);
  std::vector<float> back(15);
  std::memcpy(back.data(), f.tensor_data(*t).data(), 60);
  CHECK(back == fv);

  t = f.find_tensor("q8.shared");
  REQUIRE(t);
  CHECK(t->type == GgmlType::Q8_0);
  CHECK(t->shape == std::vector<int64_t>{64, 3});
  CHECK(same_bytes(f.tensor_data(*t), *q8));

  t = f.find_tensor("q4.stream");
  REQUIRE(t);
  CHECK(t->type == GgmlType::Q4_0);
  CHECK(t->shape == std::vector<int64_t>{96, 2, 2});
  CHECK(t->rows() == 4);
  CHECK(same_bytes(f.tensor_data(*t), q4));

  t = f.find_tensor("f16.tiny");
  REQUIRE(t);
  CHECK(t->shape == std::vector<int64_t>{3});
  CHECK(same_bytes(f.tensor_data(*t), f16));

  t = f.find_tensor("q41.4d");
  REQUIRE(t);
  CHECK(t->shape == std::vector<int64_t>{256, 4, 2, 3});
  CHECK(t->n_elements() == 256 * 4 * 2 * 3);
  CHECK(same_bytes(f.tensor_data(*t), big));

  // The data section (and each tensor) is padded to the alignment.
  CHECK(std::filesystem::file_size(path) % 32 == 0);
}

TEST_CASE("gguf writer: general.alignment sets the alignment") {
  GgufWriter w(64);
  CHECK(w.alignment() == 64);
  w.add_u32("general.alignment", 128);
  CHECK(w.alignment() == 128);
  w.add_tensor_f32("a", {3}, std::vector<float>{1, 2, 3});
  w.add_tensor_f32("b", {1}, std::vector<float>{4});
  const auto path = writer_test_path("align.gguf");
  w.write(path);
  const GgufFile f = GgufFile::open(path);
  CHECK(f.alignment() == 128);
  CHECK(f.metadata().size() == 1);
  CHECK(f.find_tensor("b")->offset == 128);
  CHECK(reinterpret_cast<uintptr_t>(f.tensor_data(*f.find_tensor("b")).data()) % 128 == 0);

  GgufWriter bad;
  CHECK_THROWS_AS(bad.add_u32("general.alignment", 48), std::runtime_error);
  CHECK_THROWS_AS(bad.add_u64("general.alignment", 64), std::runtime_error);
  CHECK_THROWS_AS(GgufWriter(0), std::runtime_error);
  CHECK_THROWS_AS(GgufWriter(24), std::runtime_error);
}

TEST_CASE("gguf writer: an empty file (no tensors, no metadata) is valid") {
  GgufWriter w;
  const auto path = writer_test_path("empty.gguf");
  w.write(path);
  const GgufFile f = GgufFile::open(path);
  CHECK(f.tensors().empty());
  CHECK(f.metadata().size() == 1);
}

TEST_CASE("gguf writer: misuse throws with the name in the message") {
  GgufWriter w;
  w.add_u32("k", 1);
  CHECK_THROWS_WITH_AS(w.add_string("k", "x"), doctest::Contains("duplicate metadata key 'k'"), std::runtime_error);
  CHECK_THROWS_AS(w.add_u32("", 1), std::runtime_error);
  w.add_tensor_f32("t", {2}, std::vector<float>{1, 2});
  CHECK_THROWS_WITH_AS(w.add_tensor_f32("t", {2}, std::vector<float>{1, 2}),
                       doctest::Contains("duplicate tensor name 't'"), std::runtime_error);
  CHECK_THROWS_WITH_AS(w.add_tensor("q", GgmlType::Q4_0, {64, 2}, pattern_bytes(35, 0)),
                       doctest::Contains("'q'"), std::runtime_error);
  CHECK_THROWS_WITH_AS(w.add_tensor("q", GgmlType::Q4_0, {64, 2}, pattern_bytes(35, 0)),
                       doctest::Contains("takes 72"), std::runtime_error);
  CHECK_THROWS_WITH_AS(w.add_tensor("q", GgmlType::Q4_0, {48, 2}, pattern_bytes(54, 0)),
                       doctest::Contains("block size 32"), std::runtime_error);
  CHECK_THROWS_AS(w.add_tensor_f32("s", {2, 0}, std::vector<float>{}), std::runtime_error);
  CHECK_THROWS_AS(w.add_tensor_f32("s", {}, std::vector<float>{}), std::runtime_error);
  CHECK_THROWS_AS(w.add_tensor_f32("s", {1, 1, 1, 1, 1}, std::vector<float>{1}), std::runtime_error);
  CHECK_THROWS_AS(w.add_tensor_f32("s", {3}, std::vector<float>{1, 2}), std::runtime_error);
  CHECK_THROWS_AS(w.add_tensor_f32("", {1}, std::vector<float>{1}), std::runtime_error);
  CHECK_THROWS_AS(w.add_tensor_f32(std::string(64, 'n'), {1}, std::vector<float>{1}), std::runtime_error);
  CHECK_THROWS_AS(w.add_tensor("u", static_cast<GgmlType>(77), {4}, pattern_bytes(4, 0)), std::runtime_error);
  CHECK_THROWS_AS(w.add_tensor_stream("e", GgmlType::F32, {1}, nullptr), std::runtime_error);
  // Failed adds leave nothing behind.
  CHECK(w.tensor_count() == 1);
  CHECK_FALSE(w.has_tensor("q"));
  CHECK(GgufWriter::tensor_bytes(GgmlType::Q8_0, {64, 3}) == 3 * 68);
}

TEST_CASE("gguf writer: a failed write leaves the old file and no temporary") {
  const auto path = writer_test_path("atomic.gguf");
  {
    GgufWriter ok;
    ok.add_string("which", "old");
    ok.write(path);
  }
  auto failing = [&](size_t n_write) {
    GgufWriter w;
    w.add_string("which", "new");
    w.add_tensor_stream("s", GgmlType::F32, {4}, [n_write](GgufWriter::TensorSink& sink) {
      const std::vector<std::byte> b(n_write);
      sink.write(b.data(), b.size());
    });
    return w;
  };
  CHECK_THROWS_WITH_AS(failing(12).write(path), doctest::Contains("wrote 12 of its 16 bytes"), std::runtime_error);
  CHECK_THROWS_WITH_AS(failing(20).write(path), doctest::Contains("more than its 16 bytes"), std::runtime_error);
  {
    GgufWriter w;
    w.add_tensor_stream("s", GgmlType::F32, {4}, [](GgufWriter::TensorSink&) { throw std::logic_error("boom"); });
    CHECK_THROWS_AS(w.write(path), std::logic_error);
  }
  CHECK(GgufFile::open(path).get_string("which") == "old");
  CHECK(leftovers(path).empty());
  // A stream callback runs again on a second write.
  GgufWriter w;
  int calls = 0;
  w.add_tensor_stream("s", GgmlType::F32, {1}, [&](GgufWriter::TensorSink& sink) {
    ++calls;
    const float x = 3;
    sink.write(&x, 4);
  });
  w.write(path);
  w.write(path);
  CHECK(calls == 2);
  // An unwritable target is reported with its path.
  CHECK_THROWS_WITH_AS(w.write(path.parent_path() / "no_such_dir" / "x.gguf"), doctest::Contains("no_such_dir"),
                       std::runtime_error);
}
