// A malformed GGUF file costs the reader memory of no more than a small multiple of its size:
// the heap bytes an open GgufFile holds, measured by the allocator itself (glibc's mallinfo2,
// or the sanitizer's allocator in the checked builds), for the metadata shapes that cost the
// most per file byte (1-byte array elements, empty strings, many tiny keys and tensors).
#include <doctest/doctest.h>

#include <malloc.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "model/gguf_file.h"
#include "tests/test_data.h"
#include "tests/gguf_bytes.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define ACTINFER_SANITIZER_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define ACTINFER_SANITIZER_HEAP 1
#endif
#endif
#ifdef ACTINFER_SANITIZER_HEAP
#include <sanitizer/allocator_interface.h>
#endif

using namespace actinfer;
using actinfer::testing::GgufBytes;

namespace {

// Bytes allocated on the heap and not yet freed, whole process.
size_t heap_bytes_in_use() {
#ifdef ACTINFER_SANITIZER_HEAP
  return __sanitizer_get_current_allocated_bytes();
#else
  const struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;  // small chunks in the arenas + chunks mmapped on their own
#endif
}

// GGUF bytes built by hand, independently of the reader and the writer.
constexpr uint32_t kArray = 9;

// One metadata array of n elements of `type`, each `elem_bytes` of `fill` (a string: its length 0).
std::vector<uint8_t> one_array(uint32_t type, size_t n, size_t elem_bytes, uint8_t fill) {
  GgufBytes h;
  h.header(0, 1).str("a").put<uint32_t>(kArray).put<uint32_t>(type).put<uint64_t>(n);
  h.b.resize(h.b.size() + n * elem_bytes, fill);
  return h.b;
}

// "k17" (built by appending: GCC 12 warns falsely, -Wrestrict, about "k" + std::to_string(17)).
std::string numbered(char c, size_t i) {
  std::string s(1, c);
  s += std::to_string(i);
  return s;
}

// n metadata keys "k<i>" holding one u8 each.
std::vector<uint8_t> many_keys(size_t n) {
  GgufBytes h;
  h.header(0, n);
  for (size_t i = 0; i < n; ++i) h.str(numbered('k', i)).put<uint32_t>(0).put<uint8_t>(1);
  return h.b;
}

// n one-element I8 tensors "t<i>" (alignment 1, so each takes 1 data byte).
std::vector<uint8_t> many_tensors(size_t n) {
  GgufBytes h;
  h.header(n, 1).str("general.alignment").put<uint32_t>(4).put<uint32_t>(1);
  for (size_t i = 0; i < n; ++i)
    h.str(numbered('t', i)).put<uint32_t>(1).put<uint64_t>(1).put<uint32_t>(24).put<uint64_t>(i);
  h.b.resize(h.b.size() + n, 0);
  return h.b;
}

// Heap bytes an open GgufFile of `bytes` holds, per byte of the file.
double held_per_file_byte(const std::vector<uint8_t>& bytes, const std::string& name) {
  const auto path = testing::write_test_file(bytes, name);
  const size_t before = heap_bytes_in_use();
  const GgufFile f = GgufFile::open(path);
  const size_t after = heap_bytes_in_use();
  const double ratio = after > before ? static_cast<double>(after - before) / static_cast<double>(bytes.size()) : 0.0;
  MESSAGE(name << ": " << bytes.size() << " bytes, " << (after - before) << " held (" << ratio << "x)");
  return ratio;
}

constexpr size_t kElements = 1 << 20;

}  // namespace

TEST_CASE("gguf memory: arrays of 1-, 2-byte and string elements cost no more than the file") {
  // U8, I8, BOOL: 1 byte each in the file (a copy as a 24-byte variant each took 24x).
  CHECK(held_per_file_byte(one_array(0, kElements, 1, 7), "mem_u8.gguf") < 1.0);
  CHECK(held_per_file_byte(one_array(1, kElements, 1, 0xff), "mem_i8.gguf") < 1.0);
  CHECK(held_per_file_byte(one_array(7, kElements, 1, 1), "mem_bool.gguf") < 1.0);
  CHECK(held_per_file_byte(one_array(2, kElements, 2, 3), "mem_u16.gguf") < 1.0);
  // Empty strings: 8 bytes of length each in the file, 8 bytes of address each in memory.
  CHECK(held_per_file_byte(one_array(8, kElements, 8, 0), "mem_empty_strings.gguf") < 1.5);
  // The values read back as the file has them.
  const GgufFile f = GgufFile::open(testing::write_test_file(one_array(1, 5, 1, 0xfe), "mem_i8_small.gguf"));
  CHECK(f.get_int_array("a") == std::vector<int64_t>{-2, -2, -2, -2, -2});
  const GgufFile s = GgufFile::open(testing::write_test_file(one_array(8, 3, 8, 0), "mem_strings_small.gguf"));
  CHECK(s.get_string_array("a") == std::vector<std::string_view>{"", "", ""});
}

TEST_CASE("gguf memory: many tiny keys and tensors cost a small multiple of the file") {
  CHECK(held_per_file_byte(many_keys(100000), "mem_keys.gguf") < 8.0);
  CHECK(held_per_file_byte(many_tensors(100000), "mem_tensors.gguf") < 8.0);
}
