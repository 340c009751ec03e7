// GGUF reader: values and tensors of a hand-built file, and a clear GgufError
// (never a crash) for every kind of corrupt or truncated file.
#include <doctest/doctest.h>
#include "tests/skip_report.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "model/gguf_file.h"
#include "tests/test_data.h"
#include "tests/gguf_bytes.h"

using namespace actinfer;
using actinfer::testing::GgufBytes;

namespace {

// Builds GGUF bytes by hand, independently of any writer under test.
struct Spec {
  uint32_t magic = 0x46554747;
  uint32_t version = 3;
  uint32_t tensor_type = 0;  // F32
  uint64_t tensor_offset = 0;
  uint64_t ne0 = 4;
  bool duplicate_key = false;
  uint64_t array_len = 3;
  size_t data_bytes = 4 * 2 * 4;
};

std::vector<uint8_t> build(const Spec& s = {}) {
  GgufBytes h;
  h.put(s.magic).put(s.version).put<uint64_t>(1).put<uint64_t>(s.duplicate_key ? 5 : 4);
  h.str("general.architecture").put<uint32_t>(8).str("llama");
  h.str("test.u32").put<uint32_t>(4).put<uint32_t>(42);
  h.str("test.f32").put<uint32_t>(6).put<float>(1.5f);
  h.str("test.arr").put<uint32_t>(9).put<uint32_t>(5).put<uint64_t>(s.array_len);
  for (int32_t v : {7, -8, 9}) h.put(v);
  if (s.duplicate_key) h.str("test.u32").put<uint32_t>(4).put<uint32_t>(1);
  h.str("w").put<uint32_t>(2).put<uint64_t>(s.ne0).put<uint64_t>(2).put<uint32_t>(s.tensor_type).put<uint64_t>(s.tensor_offset);
  h.pad(32);
  for (size_t i = 0; i < s.data_bytes / 4; ++i) h.put<float>(static_cast<float>(i));
  return h.b;
}

// `file`: each test case its own, as ctest may run test cases in parallel.
std::string open_error(const std::vector<uint8_t>& bytes, const std::string& file = "bad.gguf") {
  try {
    GgufFile::open(testing::write_test_file(bytes, file));
  } catch (const GgufError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("gguf: reads metadata and tensors of a hand-built file") {
  const GgufFile f = GgufFile::open(testing::write_test_file(build(), "good.gguf"));
  CHECK(f.version() == 3);
  CHECK(f.get_string("general.architecture") == "llama");
  CHECK(f.get_int("test.u32") == 42);
  CHECK(f.get_float("test.f32") == doctest::Approx(1.5));
  CHECK(f.get_int_array("test.arr") == std::vector<int64_t>{7, -8, 9});
  CHECK_FALSE(f.get_int("absent").has_value());
  CHECK_THROWS_WITH_AS(f.get_string("test.u32"), doctest::Contains("expected string"), GgufError);
  REQUIRE(f.tensors().size() == 1);
  const TensorInfo* t = f.find_tensor("w");
  REQUIRE(t != nullptr);
  CHECK(t->shape == std::vector<int64_t>{4, 2});
  CHECK(t->n_bytes == 32);
  CHECK(t->rows() == 2);
  const auto data = f.tensor_data(*t);
  float v[8];
  std::memcpy(v, data.data(), sizeof v);
  for (int i = 0; i < 8; ++i) CHECK(v[i] == static_cast<float>(i));
}

TEST_CASE("gguf: a file read into huge pages (--no-mmap) holds the same values and tensor bytes") {
  const auto path = testing::write_test_file(build(), "good_huge_pages.gguf");
  const GgufFile f = GgufFile::open(path, FileMemory::huge_pages);
  CHECK(f.memory() == FileMemory::huge_pages);
  CHECK(f.size_bytes() == std::filesystem::file_size(path));
  CHECK(GgufFile::open(path).memory() == FileMemory::mapped);
  CHECK(GgufFile::open(path).size_bytes() == std::filesystem::file_size(path));
  CHECK(f.get_string("general.architecture") == "llama");
  CHECK(f.get_int("test.u32") == 42);
  CHECK(f.get_int_array("test.arr") == std::vector<int64_t>{7, -8, 9});
  const TensorInfo* t = f.find_tensor("w");
  REQUIRE(t != nullptr);
  const auto data = f.tensor_data(*t);
  float v[8];
  std::memcpy(v, data.data(), sizeof v);
  for (int i = 0; i < 8; ++i) CHECK(v[i] == static_cast<float>(i));
  // The same checks refuse a corrupt file read this way.
  Spec bad;
  bad.version = 4;
  CHECK_THROWS_WITH_AS(GgufFile::open(testing::write_test_file(build(bad), "bad_huge_pages.gguf"), FileMemory::huge_pages),
                       doctest::Contains("unsupported GGUF version 4"), GgufError);
}

TEST_CASE("gguf: a file larger than the machine's memory is refused before it is read into it") {
  const auto path = testing::write_test_file(build(), "larger_than_memory.gguf");
  const auto phys = static_cast<uintmax_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uintmax_t>(sysconf(_SC_PAGESIZE));
  std::error_code ec;
  std::filesystem::resize_file(path, phys + (1u << 20), ec);  // sparse: no disk is used
  if (ec) {
    ACTINFER_REPORT_SKIPPED("this file system cannot hold a sparse file of the machine's memory size: " << ec.message());
    return;
  }
  CHECK_THROWS_WITH_AS(GgufFile::open(path, FileMemory::huge_pages), doctest::Contains("more than this machine's"), GgufError);
  std::filesystem::remove(path);
}

TEST_CASE("gguf: corrupt headers are refused with a message naming the problem") {
  Spec s;
  s.magic = 0x12345678;
  CHECK(open_error(build(s)).find("not a GGUF file") != std::string::npos);
  s = {};
  s.version = 4;
  CHECK(open_error(build(s)).find("unsupported GGUF version 4") != std::string::npos);
  s = {};
  s.tensor_type = 99;  // no ggml type: its size is unknown, so the file cannot be read
  CHECK(open_error(build(s)).find("unsupported tensor type 99 (no ggml type has this id)") != std::string::npos);
  s = {};
  s.tensor_offset = 4;
  CHECK(open_error(build(s)).find("not aligned") != std::string::npos);
  s = {};
  s.tensor_offset = 32;  // not where the (only) tensor's data starts, as ggml requires
  CHECK(open_error(build(s)).find("data offset 32, expected 0") != std::string::npos);
  s = {};
  s.data_bytes = 16;  // data would run past the end of the file
  CHECK(open_error(build(s)).find("truncated") != std::string::npos);
  s = {};
  s.duplicate_key = true;
  CHECK(open_error(build(s)).find("duplicate metadata 'test.u32'") != std::string::npos);
  s = {};
  s.array_len = 1ull << 60;
  CHECK(open_error(build(s)).find("array length") != std::string::npos);
  s = {};
  s.tensor_type = 8;  // Q8_0: a row of 4 is not a whole block of 32
  CHECK(open_error(build(s)).find("not a multiple of Q8_0's block size 32") != std::string::npos);
  CHECK(open_error({}).find("smaller than a GGUF header") != std::string::npos);
  CHECK_THROWS_WITH_AS(GgufFile::open("/nonexistent/model.gguf"), doctest::Contains("cannot open"), GgufError);
}

TEST_CASE("gguf: every truncation of a valid file is refused cleanly") {
  const auto full = build();
  for (size_t n = 0; n < full.size(); ++n) {
    const std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    const std::string err = open_error(cut, "truncated.gguf");
    INFO("cut at byte " << n);
    CHECK_FALSE(err.empty());
  }
}

TEST_CASE("gguf: random byte corruption never crashes the reader") {
  const auto full = build();
  std::mt19937 rng(7);
  int refused = 0;
  for (int i = 0; i < 400; ++i) {
    auto bad = full;
    for (int k = 0; k < 3; ++k) bad[rng() % 200] = static_cast<uint8_t>(rng());  // the header region
    try {
      const GgufFile f = GgufFile::open(testing::write_test_file(bad, "fuzz.gguf"));
      for (const auto& t : f.tensors()) CHECK(t.offset + t.n_bytes <= full.size());
    } catch (const GgufError&) {
      ++refused;
    }
  }
  CHECK(refused > 0);
}

TEST_CASE("gguf: the default model's header") {
  const std::filesystem::path model = ACTINFER_SOURCE_DIR "/models/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(model)) {
    ACTINFER_REPORT_SKIPPED("default model absent (run ./setup.sh): skipped");
    return;
  }
  const GgufFile f = GgufFile::open(model);
  CHECK(f.version() == 3);
  CHECK(f.tensors().size() == 272);
  CHECK(f.metadata().size() == 33);
  CHECK(f.get_int("llama.block_count") == 30);
  CHECK(f.get_string("tokenizer.ggml.pre") == "smollm");
  CHECK(f.get_string_array("tokenizer.ggml.tokens")->size() == 49152);
  const TensorInfo* embd = f.find_tensor("token_embd.weight");
  REQUIRE(embd);
  CHECK(embd->type == GgmlType::Q8_0);
  CHECK(embd->shape == std::vector<int64_t>{576, 49152});
}
