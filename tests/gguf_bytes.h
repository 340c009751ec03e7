// GGUF files byte by byte, for tests of what the writer would never produce: little-endian
// values and length-prefixed strings appended in order.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace actinfer::testing {

struct GgufBytes {
  std::vector<uint8_t> b;
  template <typename T>
  GgufBytes& put(T v) {
    const size_t at = b.size();
    b.resize(at + sizeof(T));  // (not insert: GCC 12 warns falsely about it here)
    std::memcpy(b.data() + at, &v, sizeof(T));
    return *this;
  }
  GgufBytes& str(const std::string& s) {
    put<uint64_t>(s.size());
    const size_t at = b.size();
    b.resize(at + s.size());  // (as in put)
    if (!s.empty()) std::memcpy(b.data() + at, s.data(), s.size());
    return *this;
  }
  // Magic, version 3 and the two counts.
  GgufBytes& header(uint64_t n_tensors, uint64_t n_kv) {
    return put<uint32_t>(0x46554747).put<uint32_t>(3).put(n_tensors).put(n_kv);
  }
  void pad(size_t align) {
    while (b.size() % align) b.push_back(0);
  }
};

}  // namespace actinfer::testing
