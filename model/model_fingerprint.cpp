#include "model/model_fingerprint.h"

#include <algorithm>
#include <cstdio>

#include "model/gguf_file.h"
#include "model/gguf_writer.h"
#include "model/model_config.h"

namespace actinfer {
namespace {

// FNV-1a, 64 bits: not cryptographic (it tells models apart, it does not resist forgery).
class Fnv1a {
 public:
  void add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h_ = (h_ ^ p[i]) * 0x100000001b3ull;
  }
  template <typename T>
  void add_value(T v) {
    add(&v, sizeof v);
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0xcbf29ce484222325ull;
};

constexpr size_t kSampleBytes = 64;

}  // namespace

std::string model_fingerprint(const GgufFile& f) {
  Fnv1a h;
  for (const TensorInfo& t : f.tensors()) {
    h.add(t.name.data(), t.name.size());
    h.add_value(static_cast<uint32_t>(t.type));
    for (int64_t d : t.shape) h.add_value(d);
    h.add_value(t.offset);
    const auto data = f.tensor_data(t);
    const size_t n = std::min(kSampleBytes, data.size());
    for (const size_t at : {size_t{0}, (data.size() - n) / 2, data.size() - n}) h.add(data.data() + at, n);
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h.value()));
  return hex;
}

void add_model_fingerprint(GgufWriter& w, const ModelConfig& c) {
  if (!c.fingerprint.empty()) w.add_string(std::string(kModelFingerprintKey), c.fingerprint);
}

std::optional<std::string> model_fingerprint_mismatch(const GgufFile& side, const ModelConfig& c, std::string_view kind) {
  if (c.fingerprint.empty()) return std::nullopt;
  const auto recorded = side.get_string(kModelFingerprintKey);
  if (!recorded) {
    std::fprintf(stderr, "warning: %s: this %.*s records no model fingerprint (an older actinfer made it): "
                 "nothing shows it was made from this model\n",
                 side.path().c_str(), static_cast<int>(kind.size()), kind.data());
    return std::nullopt;
  }
  if (*recorded == c.fingerprint) return std::nullopt;
  return std::string(kind) + " was made from another model (fingerprint " + std::string(*recorded) + ", this model's is " +
         c.fingerprint + "): the same shape with other weights; make it again for this model";
}

}  // namespace actinfer
