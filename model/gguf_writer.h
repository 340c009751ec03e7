// Builds a GGUF v3 file: metadata of every GGUF value type, then tensors whose bytes come
// from a buffer or from a callback that streams them (so a large model is never held twice
// in memory). The file is written to a temporary name next to the target and renamed into
// place once complete; a failed write leaves no partial file behind.
//
// Layout: header, metadata (in insertion order, general.alignment included), tensor infos,
// padding to the alignment, then each tensor's bytes at an aligned offset, zero-padded.
// Misuse (an empty or duplicate key or tensor name, a bad shape, a byte count that does
// not match the type and shape) throws std::runtime_error naming the key or tensor.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kernels/ggml_type.h"
#include "model/gguf_file.h"

namespace actinfer {

class GgufWriter {
 public:
  // Receives one tensor's bytes, in order, from a streaming callback. Writing more bytes
  // than the tensor holds throws; writing fewer is reported once the callback returns.
  class TensorSink {
   public:
    virtual ~TensorSink() = default;
    virtual void write(const void* data, size_t n_bytes) = 0;
  };
  using TensorWriteFn = std::function<void(TensorSink& sink)>;

  // Called before each tensor's data is written, and once more at the end with
  // index == count (bytes_done == bytes_total then).
  struct Progress {
    size_t index = 0;
    size_t count = 0;
    const std::string* name = nullptr;  // null in the final call
    uint64_t bytes_done = 0;            // tensor data bytes written so far
    uint64_t bytes_total = 0;
  };
  using ProgressFn = std::function<void(const Progress&)>;

  // alignment: of the tensor data; a power of two. Written as general.alignment (u32).
  explicit GgufWriter(uint32_t alignment = 32);

  // Metadata. Keys must be non-empty and unique. Adding "general.alignment" (as u32)
  // sets the alignment; any other type for that key throws.
  void add_u8(const std::string& key, uint8_t v);
  void add_i8(const std::string& key, int8_t v);
  void add_u16(const std::string& key, uint16_t v);
  void add_i16(const std::string& key, int16_t v);
  void add_u32(const std::string& key, uint32_t v);
  void add_i32(const std::string& key, int32_t v);
  void add_u64(const std::string& key, uint64_t v);
  void add_i64(const std::string& key, int64_t v);
  void add_f32(const std::string& key, float v);
  void add_f64(const std::string& key, double v);
  void add_bool(const std::string& key, bool v);
  void add_string(const std::string& key, std::string_view v);

  void add_string_array(const std::string& key, std::span<const std::string> v);
  void add_u8_array(const std::string& key, std::span<const uint8_t> v);
  void add_i8_array(const std::string& key, std::span<const int8_t> v);
  void add_u16_array(const std::string& key, std::span<const uint16_t> v);
  void add_i16_array(const std::string& key, std::span<const int16_t> v);
  void add_u32_array(const std::string& key, std::span<const uint32_t> v);
  void add_i32_array(const std::string& key, std::span<const int32_t> v);
  void add_u64_array(const std::string& key, std::span<const uint64_t> v);
  void add_i64_array(const std::string& key, std::span<const int64_t> v);
  void add_f32_array(const std::string& key, std::span<const float> v);
  void add_f64_array(const std::string& key, std::span<const double> v);
  void add_bool_array(const std::string& key, std::span<const bool> v);
  void add_bool_array(const std::string& key, const std::vector<bool>& v);

  // Tensors. shape lists ne0 (the contiguous row length) first; 1 to 4 dimensions, each
  // >= 1, ne0 a multiple of the type's block size. Names: 1 to 63 bytes, unique.
  // Bytes held in a shared buffer (not copied; it must not change before write()).
  void add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> shape,
                  std::shared_ptr<const std::vector<std::byte>> data);
  // Bytes moved in.
  void add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> shape,
                  std::vector<std::byte> data);
  // An F32 tensor from floats (copied).
  void add_tensor_f32(const std::string& name, std::vector<int64_t> shape, std::span<const float> values);
  // Bytes produced at write() time by `fn`, which must hand the sink exactly
  // tensor_bytes(type, shape) bytes. Called once per write().
  void add_tensor_stream(const std::string& name, GgmlType type, std::vector<int64_t> shape, TensorWriteFn fn);

  // Bytes of a tensor of this type and shape; throws std::runtime_error for a bad shape.
  static int64_t tensor_bytes(GgmlType type, const std::vector<int64_t>& shape);

  uint32_t alignment() const { return alignment_; }
  size_t kv_count() const { return kvs_.size(); }
  size_t tensor_count() const { return tensors_.size(); }
  bool has_key(std::string_view key) const;
  bool has_tensor(std::string_view name) const;
  // Tensor data bytes, without padding.
  uint64_t tensor_data_bytes() const;

  // Writes the file whole (model/atomic_output.h): to "<path>.tmp.XXXXXX", then renamed to path. Throws std::runtime_error
  // (with the path and reason) on I/O failure or a callback's wrong byte count; exceptions
  // from callbacks propagate. The temporary file is removed on any failure.
  void write(const std::filesystem::path& path, const ProgressFn& progress = {}) const;

 private:
  struct Kv {
    std::string key;
    GgufValueType type;
    std::vector<uint8_t> value;  // encoded value bytes (after the type field)
  };
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> shape;
    int64_t n_bytes = 0;
    std::shared_ptr<const std::vector<std::byte>> data;
    TensorWriteFn fn;
  };

  void add_kv(const std::string& key, GgufValueType type, std::vector<uint8_t> value);
  template <typename T>
  void add_scalar(const std::string& key, GgufValueType type, T v);
  template <typename T>
  void add_array(const std::string& key, GgufValueType elem, std::span<const T> v);
  Tensor make_tensor(const std::string& name, GgmlType type, std::vector<int64_t> shape) const;

  uint32_t alignment_;
  bool alignment_key_added_ = false;
  std::vector<Kv> kvs_;
  std::vector<Tensor> tensors_;
};

}  // namespace actinfer
