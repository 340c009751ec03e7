// Hostile GGUF files for tests, made with the GGUF writer: a small valid synthetic model,
// rewritten with edited metadata (rewrite_gguf), or with bytes of its header patched in
// place (tensor offsets, types, shapes: what the writer itself would never produce).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/gguf_file.h"
#include "model/gguf_writer.h"
#include "model/synthetic_model.h"
#include "test_data.h"

namespace actinfer::testing {

// A small model (2 layers, d 64, ffn 128, vocab 300, F32): ~0.5 MB.
inline SyntheticModelConfig small_model_config(uint64_t seed = 1) {
  SyntheticModelConfig c;
  c.n_layers = 2;
  c.dim = 64;
  c.ffn = 128;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.vocab = 300;
  c.ctx = 256;
  c.seed = seed;
  return c;
}

inline std::filesystem::path small_model(const std::string& name, uint64_t seed = 1) {
  const auto path = test_data_path(name);
  write_synthetic_model(small_model_config(seed), path);
  return path;
}

inline std::vector<uint8_t> read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_bytes(const std::filesystem::path& p, const std::vector<uint8_t>& b) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

// Adds a key's new value while rewriting (empty: the key is dropped).
using KvEdit = std::function<void(GgufWriter&)>;

// Rewrites `src` through GgufWriter to `dst`: every metadata key as it was, except those in
// `edits` (the edit adds its own value, or nothing to drop the key), then every tensor's bytes.
inline void rewrite_gguf(const std::filesystem::path& src, const std::filesystem::path& dst,
                         const std::map<std::string, KvEdit>& edits) {
  const GgufFile f = GgufFile::open(src);
  GgufWriter w(static_cast<uint32_t>(f.alignment()));
  for (const auto& [key, v] : f.metadata()) {
    if (key == "general.alignment") continue;
    if (auto e = edits.find(key); e != edits.end()) {
      if (e->second) e->second(w);
      continue;
    }
    if (v.type == GgufValueType::ARRAY) {
      const GgufValueType t = v.array->element_type;
      if (t == GgufValueType::STRING) {
        const auto a = f.get_string_array(key);
        const std::vector<std::string> s(a->begin(), a->end());
        w.add_string_array(key, s);
      } else if (t == GgufValueType::F32 || t == GgufValueType::F64) {
        const auto a = f.get_float_array(key);
        w.add_f32_array(key, *a);
      } else {
        const auto a = f.get_int_array(key);
        const std::vector<int32_t> i(a->begin(), a->end());
        w.add_i32_array(key, i);
      }
      continue;
    }
    switch (v.type) {
      case GgufValueType::STRING: w.add_string(key, *f.get_string(key)); break;
      case GgufValueType::F32: w.add_f32(key, static_cast<float>(*f.get_float(key))); break;
      case GgufValueType::F64: w.add_f64(key, *f.get_float(key)); break;
      case GgufValueType::BOOL: w.add_bool(key, *f.get_bool(key)); break;
      default: w.add_i64(key, *f.get_int(key)); break;
    }
  }
  for (const auto& [key, e] : edits)
    if (!f.has(key) && e) e(w);
  for (const TensorInfo& t : f.tensors()) {
    const auto d = f.tensor_data(t);
    std::vector<std::byte> bytes(d.begin(), d.end());
    w.add_tensor(t.name, t.type, t.shape, std::move(bytes));
  }
  w.write(dst);
}

// Byte position, in the file, of the tensor info of `name` just after its name (n_dims).
inline size_t tensor_info_pos(const std::vector<uint8_t>& bytes, const std::string& name) {
  std::vector<uint8_t> needle(8);
  const uint64_t n = name.size();
  std::memcpy(needle.data(), &n, 8);
  needle.insert(needle.end(), name.begin(), name.end());
  const auto it = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end());
  if (it == bytes.end()) throw std::runtime_error("tensor '" + name + "' not in the file");
  return static_cast<size_t>(it - bytes.begin()) + needle.size();
}

struct TensorInfoPos {
  size_t n_dims, dims, type, offset;  // byte positions of the fields
};

inline TensorInfoPos tensor_fields(const std::vector<uint8_t>& bytes, const std::string& name) {
  const size_t at = tensor_info_pos(bytes, name);
  uint32_t n_dims = 0;
  std::memcpy(&n_dims, bytes.data() + at, 4);
  const size_t dims = at + 4, type = dims + 8 * n_dims;
  return {at, dims, type, type + 4};
}

template <typename T>
void patch(std::vector<uint8_t>& bytes, size_t at, T value) {
  std::memcpy(bytes.data() + at, &value, sizeof value);
}

template <typename T>
T peek(const std::vector<uint8_t>& bytes, size_t at) {
  T v;
  std::memcpy(&v, bytes.data() + at, sizeof v);
  return v;
}

}  // namespace actinfer::testing
