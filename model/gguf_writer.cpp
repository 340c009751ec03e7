#include "model/gguf_writer.h"

#include "model/atomic_output.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace actinfer {

namespace {

constexpr uint32_t kGgufVersion = 3;
constexpr size_t kMaxNameBytes = 63;  // ggml's GGML_MAX_NAME (64) less the terminator
constexpr size_t kWriterMaxDims = 4;

std::runtime_error err(const std::string& what) { return std::runtime_error("GgufWriter: " + what); }

template <typename T>
void put(std::vector<uint8_t>& out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

void put_string(std::vector<uint8_t>& out, std::string_view s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }


// Buffered output to a FILE*, with errors raised as exceptions naming the file.
class FileOut {
 public:
  explicit FileOut(const std::filesystem::path& path) : path_(path) {
    f_ = std::fopen(path.c_str(), "wb");
    if (!f_) throw err("cannot create " + path.string() + ": " + std::strerror(errno));
    std::setvbuf(f_, nullptr, _IOFBF, 4 << 20);
  }
  ~FileOut() {
    if (f_) std::fclose(f_);
  }
  void write(const void* p, size_t n) {
    if (n == 0) return;
    if (std::fwrite(p, 1, n, f_) != n) fail("write");
    pos_ += n;
  }
  void zeros(size_t n) {
    static const uint8_t z[256] = {};
    while (n > 0) {
      const size_t k = n < sizeof z ? n : sizeof z;
      write(z, k);
      n -= k;
    }
  }
  uint64_t pos() const { return pos_; }
  void close() {
    if (std::fflush(f_) != 0) fail("flush");
    std::FILE* f = f_;
    f_ = nullptr;
    if (std::fclose(f) != 0) fail("close");
  }

 private:
  [[noreturn]] void fail(const char* op) {
    throw err(std::string(op) + " failed for " + path_.string() + ": " + std::strerror(errno));
  }
  std::filesystem::path path_;
  std::FILE* f_ = nullptr;
  uint64_t pos_ = 0;
};

class CountingSink final : public GgufWriter::TensorSink {
 public:
  CountingSink(FileOut& out, const std::string& name, int64_t expected)
      : out_(out), name_(name), expected_(static_cast<uint64_t>(expected)) {}
  void write(const void* data, size_t n) override {
    if (n > expected_ - written_)
      throw err("tensor '" + name_ + "': callback wrote more than its " + std::to_string(expected_) + " bytes");
    out_.write(data, n);
    written_ += n;
  }
  uint64_t written() const { return written_; }

 private:
  FileOut& out_;
  const std::string& name_;
  uint64_t expected_;
  uint64_t written_ = 0;
};

}  // namespace

GgufWriter::GgufWriter(uint32_t alignment) : alignment_(alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    throw err("alignment " + std::to_string(alignment) + " is not a power of two");
}

bool GgufWriter::has_key(std::string_view key) const {
  for (const Kv& kv : kvs_)
    if (kv.key == key) return true;
  return false;
}

bool GgufWriter::has_tensor(std::string_view name) const {
  for (const Tensor& t : tensors_)
    if (t.name == name) return true;
  return false;
}

void GgufWriter::add_kv(const std::string& key, GgufValueType type, std::vector<uint8_t> value) {
  if (key.empty()) throw err("empty metadata key");
  if (has_key(key)) throw err("duplicate metadata key '" + key + "'");
  if (key == "general.alignment") {
    if (type != GgufValueType::U32) throw err("general.alignment must be a u32");
    uint32_t a;
    std::memcpy(&a, value.data(), sizeof a);
    if (a == 0 || (a & (a - 1)) != 0)
      throw err("general.alignment " + std::to_string(a) + " is not a power of two");
    alignment_ = a;
    alignment_key_added_ = true;
  }
  kvs_.push_back(Kv{key, type, std::move(value)});
}

template <typename T>
void GgufWriter::add_scalar(const std::string& key, GgufValueType type, T v) {
  std::vector<uint8_t> b;
  put<T>(b, v);
  add_kv(key, type, std::move(b));
}

template <typename T>
void GgufWriter::add_array(const std::string& key, GgufValueType elem, std::span<const T> v) {
  std::vector<uint8_t> b;
  b.reserve(12 + v.size() * sizeof(T));
  put<uint32_t>(b, static_cast<uint32_t>(elem));
  put<uint64_t>(b, v.size());
  for (const T& x : v) put<T>(b, x);
  add_kv(key, GgufValueType::ARRAY, std::move(b));
}

void GgufWriter::add_u8(const std::string& k, uint8_t v) { add_scalar(k, GgufValueType::U8, v); }
void GgufWriter::add_i8(const std::string& k, int8_t v) { add_scalar(k, GgufValueType::I8, v); }
void GgufWriter::add_u16(const std::string& k, uint16_t v) { add_scalar(k, GgufValueType::U16, v); }
void GgufWriter::add_i16(const std::string& k, int16_t v) { add_scalar(k, GgufValueType::I16, v); }
void GgufWriter::add_u32(const std::string& k, uint32_t v) { add_scalar(k, GgufValueType::U32, v); }
void GgufWriter::add_i32(const std::string& k, int32_t v) { add_scalar(k, GgufValueType::I32, v); }
void GgufWriter::add_u64(const std::string& k, uint64_t v) { add_scalar(k, GgufValueType::U64, v); }
void GgufWriter::add_i64(const std::string& k, int64_t v) { add_scalar(k, GgufValueType::I64, v); }
void GgufWriter::add_f32(const std::string& k, float v) { add_scalar(k, GgufValueType::F32, v); }
void GgufWriter::add_f64(const std::string& k, double v) { add_scalar(k, GgufValueType::F64, v); }
void GgufWriter::add_bool(const std::string& k, bool v) { add_scalar<uint8_t>(k, GgufValueType::BOOL, v ? 1 : 0); }

void GgufWriter::add_string(const std::string& k, std::string_view v) {
  std::vector<uint8_t> b;
  put_string(b, v);
  add_kv(k, GgufValueType::STRING, std::move(b));
}

void GgufWriter::add_string_array(const std::string& k, std::span<const std::string> v) {
  std::vector<uint8_t> b;
  size_t total = 12;
  for (const std::string& s : v) total += 8 + s.size();
  b.reserve(total);
  put<uint32_t>(b, static_cast<uint32_t>(GgufValueType::STRING));
  put<uint64_t>(b, v.size());
  for (const std::string& s : v) put_string(b, s);
  add_kv(k, GgufValueType::ARRAY, std::move(b));
}

void GgufWriter::add_u8_array(const std::string& k, std::span<const uint8_t> v) { add_array(k, GgufValueType::U8, v); }
void GgufWriter::add_i8_array(const std::string& k, std::span<const int8_t> v) { add_array(k, GgufValueType::I8, v); }
void GgufWriter::add_u16_array(const std::string& k, std::span<const uint16_t> v) { add_array(k, GgufValueType::U16, v); }
void GgufWriter::add_i16_array(const std::string& k, std::span<const int16_t> v) { add_array(k, GgufValueType::I16, v); }
void GgufWriter::add_u32_array(const std::string& k, std::span<const uint32_t> v) { add_array(k, GgufValueType::U32, v); }
void GgufWriter::add_i32_array(const std::string& k, std::span<const int32_t> v) { add_array(k, GgufValueType::I32, v); }
void GgufWriter::add_u64_array(const std::string& k, std::span<const uint64_t> v) { add_array(k, GgufValueType::U64, v); }
void GgufWriter::add_i64_array(const std::string& k, std::span<const int64_t> v) { add_array(k, GgufValueType::I64, v); }
void GgufWriter::add_f32_array(const std::string& k, std::span<const float> v) { add_array(k, GgufValueType::F32, v); }
void GgufWriter::add_f64_array(const std::string& k, std::span<const double> v) { add_array(k, GgufValueType::F64, v); }

void GgufWriter::add_bool_array(const std::string& k, std::span<const bool> v) {
  std::vector<uint8_t> b;
  for (bool x : v) b.push_back(x ? 1 : 0);
  add_array<uint8_t>(k, GgufValueType::BOOL, b);
}

void GgufWriter::add_bool_array(const std::string& k, const std::vector<bool>& v) {
  std::vector<uint8_t> b;
  for (bool x : v) b.push_back(x ? 1 : 0);
  add_array<uint8_t>(k, GgufValueType::BOOL, b);
}

int64_t GgufWriter::tensor_bytes(GgmlType type, const std::vector<int64_t>& shape) {
  if (shape.empty() || shape.size() > kWriterMaxDims)
    throw err("a tensor needs 1 to 4 dimensions, got " + std::to_string(shape.size()));
  const auto tt = type_traits(static_cast<uint32_t>(type));
  if (!tt) throw err("unknown tensor type " + std::to_string(static_cast<uint32_t>(type)));
  int64_t rows = 1;
  for (int64_t ne : shape) {
    if (ne < 1) throw err("tensor dimension " + std::to_string(ne) + " in " + shape_string(shape) + " is not positive");
    if (ne > (int64_t{1} << 40) || rows > (int64_t{1} << 50) / ne)
      throw err("tensor shape " + shape_string(shape) + " is too large");
  }
  for (size_t i = 1; i < shape.size(); ++i) rows *= shape[i];
  if (shape[0] % tt->block_elems != 0)
    throw err(std::string(tt->name) + " rows of " + std::to_string(shape[0]) +
              " elements are not a multiple of its block size " + std::to_string(tt->block_elems));
  const int64_t rb = shape[0] / tt->block_elems * tt->block_bytes;
  if (rows > (int64_t{1} << 52) / rb) throw err("tensor shape " + shape_string(shape) + " is too large");
  return rb * rows;
}

GgufWriter::Tensor GgufWriter::make_tensor(const std::string& name, GgmlType type, std::vector<int64_t> shape) const {
  if (name.empty()) throw err("empty tensor name");
  if (name.size() > kMaxNameBytes)
    throw err("tensor name '" + name + "' is longer than " + std::to_string(kMaxNameBytes) + " bytes");
  if (has_tensor(name)) throw err("duplicate tensor name '" + name + "'");
  Tensor t;
  try {
    t.n_bytes = tensor_bytes(type, shape);
  } catch (const std::runtime_error& e) {
    throw err("tensor '" + name + "': " + std::string(e.what()).substr(std::strlen("GgufWriter: ")));
  }
  t.name = name;
  t.type = type;
  t.shape = std::move(shape);
  return t;
}

void GgufWriter::add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> shape,
                            std::shared_ptr<const std::vector<std::byte>> data) {
  Tensor t = make_tensor(name, type, std::move(shape));
  if (!data) throw err("tensor '" + name + "': null data");
  if (static_cast<int64_t>(data->size()) != t.n_bytes)
    throw err("tensor '" + name + "': " + std::to_string(data->size()) + " bytes given, but " +
              std::string(traits(type).name) + " " + shape_string(t.shape) + " takes " + std::to_string(t.n_bytes));
  t.data = std::move(data);
  tensors_.push_back(std::move(t));
}

void GgufWriter::add_tensor(const std::string& name, GgmlType type, std::vector<int64_t> shape,
                            std::vector<std::byte> data) {
  add_tensor(name, type, std::move(shape), std::make_shared<const std::vector<std::byte>>(std::move(data)));
}

void GgufWriter::add_tensor_f32(const std::string& name, std::vector<int64_t> shape, std::span<const float> values) {
  std::vector<std::byte> b(values.size() * sizeof(float));
  if (!values.empty()) std::memcpy(b.data(), values.data(), b.size());
  add_tensor(name, GgmlType::F32, std::move(shape), std::move(b));
}

void GgufWriter::add_tensor_stream(const std::string& name, GgmlType type, std::vector<int64_t> shape,
                                   TensorWriteFn fn) {
  Tensor t = make_tensor(name, type, std::move(shape));
  if (!fn) throw err("tensor '" + name + "': empty write callback");
  t.fn = std::move(fn);
  tensors_.push_back(std::move(t));
}

uint64_t GgufWriter::tensor_data_bytes() const {
  uint64_t n = 0;
  for (const Tensor& t : tensors_) n += static_cast<uint64_t>(t.n_bytes);
  return n;
}

void GgufWriter::write(const std::filesystem::path& path, const ProgressFn& progress) const {
  // Everything before the tensor data.
  std::vector<uint8_t> head;
  for (char c : std::string_view("GGUF")) put<char>(head, c);
  put<uint32_t>(head, kGgufVersion);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, kvs_.size() + (alignment_key_added_ ? 0 : 1));
  auto put_kv = [&](const std::string& key, GgufValueType type, const std::vector<uint8_t>& value) {
    put_string(head, key);
    put<uint32_t>(head, static_cast<uint32_t>(type));
    head.insert(head.end(), value.begin(), value.end());
  };
  for (const Kv& kv : kvs_) put_kv(kv.key, kv.type, kv.value);
  if (!alignment_key_added_) {
    std::vector<uint8_t> v;
    put<uint32_t>(v, alignment_);
    put_kv("general.alignment", GgufValueType::U32, v);
  }
  std::vector<uint64_t> offsets;
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(head, t.name);
    put<uint32_t>(head, static_cast<uint32_t>(t.shape.size()));
    for (int64_t ne : t.shape) put<uint64_t>(head, static_cast<uint64_t>(ne));
    put<uint32_t>(head, static_cast<uint32_t>(t.type));
    put<uint64_t>(head, offset);
    offsets.push_back(offset);
    offset = align_up(offset + static_cast<uint64_t>(t.n_bytes), alignment_);
  }
  head.resize(align_up(head.size(), alignment_), 0);

  const uint64_t total = tensor_data_bytes();
  AtomicOutput whole(path);
  const std::filesystem::path& tmp = whole.temp_path();
  {
    FileOut out(tmp);
    out.write(head.data(), head.size());
    const uint64_t data_start = out.pos();
    uint64_t done = 0;
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const Tensor& t = tensors_[i];
      if (progress) progress(Progress{i, tensors_.size(), &t.name, done, total});
      out.zeros(data_start + offsets[i] - out.pos());
      if (t.data) {
        out.write(t.data->data(), t.data->size());
      } else {
        CountingSink sink(out, t.name, t.n_bytes);
        t.fn(sink);
        if (sink.written() != static_cast<uint64_t>(t.n_bytes))
          throw err("tensor '" + t.name + "': callback wrote " + std::to_string(sink.written()) + " of its " +
                    std::to_string(t.n_bytes) + " bytes");
      }
      done += static_cast<uint64_t>(t.n_bytes);
    }
    out.zeros(align_up(out.pos() - data_start, alignment_) - (out.pos() - data_start));
    out.close();
  }
  whole.commit();
  if (progress) progress(Progress{tensors_.size(), tensors_.size(), nullptr, total, total});
}

}  // namespace actinfer
