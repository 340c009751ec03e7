// Read-only view of a GGUF v2/v3 file over mmap. Every offset, count, size and
// type is validated on open; a bad file raises GgufError naming the problem.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "kernels/ggml_type.h"

namespace actinfer {

class GgufError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// GGUF metadata value types, numbered as in the format.
enum class GgufValueType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

class GgufArray;
// A scalar as its widest kind; strings point into the mapped file.
using GgufScalar = std::variant<uint64_t, int64_t, double, bool, std::string_view>;

// An array's elements, decoded from the mapped file on access (nested arrays are rejected on
// open). Fixed-width elements are not copied and a string is kept as the address of its length
// prefix (8 bytes, no more than the file spends on it), so the memory a file's arrays take never
// exceeds the file's size, whatever their element type (a copy as GgufScalar took 24 bytes for
// each 1-byte element).
class GgufArray {
 public:
  // Fixed-width elements: `count` of them from `first`; strings: the address of each one's prefix.
  GgufArray(GgufValueType element_type, const std::byte* first, size_t count);
  GgufArray(std::vector<const std::byte*> strings);

  GgufValueType element_type;
  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  GgufScalar at(size_t i) const;  // i < size(); strings point into the mapped file

 private:
  const std::byte* first_ = nullptr;
  size_t count_ = 0;
  std::vector<const std::byte*> strings_;
};

struct GgufValue {
  GgufValueType type;
  GgufScalar scalar;  // when type != ARRAY
  std::shared_ptr<const GgufArray> array;  // when type == ARRAY
};

// "[576, 49152]": a tensor shape for messages.
std::string shape_string(const std::vector<int64_t>& shape);

struct TensorInfo {
  std::string name;
  GgmlType type;
  std::vector<int64_t> shape;  // ne[0] is the contiguous (row) dimension
  uint64_t offset = 0;         // from the start of the data section
  int64_t n_bytes = 0;
  int64_t n_elements() const;
  int64_t rows() const;  // product of shape[1..]
};

// Where an open file's bytes live: mapped from the page cache (shared with other processes,
// read on first touch), or read once into private memory in transparent huge pages (one TLB
// entry per 2 MiB: a GEMM's panels walk 24-32 rows kilobytes apart, each row another 4 KiB
// page when mapped), as llama.cpp's --no-mmap.
enum class FileMemory { mapped, huge_pages };

class GgufFile {
 public:
  // Throws GgufError (with the path and the reason) for any malformed file, or one that
  // cannot be read into memory (huge_pages: larger than the machine's memory, a read error).
  static GgufFile open(const std::filesystem::path& path, FileMemory memory = FileMemory::mapped);

  uint32_t version() const { return version_; }
  // The file starts with PowerInfer's "PWRI" magic instead of "GGUF" (otherwise the same format).
  bool powerinfer() const { return powerinfer_; }
  const std::filesystem::path& path() const { return path_; }
  FileMemory memory() const { return memory_; }  // how the bytes are held
  uint64_t size_bytes() const;                    // of the whole file
  size_t alignment() const { return alignment_; }

  const GgufValue* find(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  // Typed getters: nullopt when absent; GgufError when present with another type.
  std::optional<std::string_view> get_string(std::string_view key) const;
  std::optional<int64_t> get_int(std::string_view key) const;  // any integer type
  std::optional<double> get_float(std::string_view key) const;  // F32/F64 (or integer)
  std::optional<bool> get_bool(std::string_view key) const;
  std::optional<std::vector<std::string_view>> get_string_array(std::string_view key) const;
  std::optional<std::vector<int64_t>> get_int_array(std::string_view key) const;
  std::optional<std::vector<float>> get_float_array(std::string_view key) const;
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;
  std::span<const std::byte> tensor_data(const TensorInfo& t) const;
  // An F32 tensor's values, copied: a file's general.alignment may leave them unaligned for
  // float loads. std::invalid_argument for another type.
  std::vector<float> f32_values(const TensorInfo& t) const;
  const std::byte* data_begin() const;  // start of the tensor data section
  uint64_t data_offset() const { return data_offset_; }  // of the data section in the file

 private:
  struct Mapping;
  static std::shared_ptr<Mapping> read_into_huge_pages(int fd, size_t size, const std::string& path);
  std::shared_ptr<Mapping> map_;
  std::filesystem::path path_;
  uint32_t version_ = 0;
  bool powerinfer_ = false;
  FileMemory memory_ = FileMemory::mapped;
  size_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<TensorInfo> tensors_;
};

}  // namespace actinfer
