#include "model/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <limits>
#include <unordered_set>

#include "topology/node_memory.h"

namespace actinfer {
namespace {

constexpr uint64_t kMaxStringBytes = 1ull << 30;  // sanity bounds against corrupt counts
constexpr uint64_t kMaxDims = 4;

// Bounds-checked little-endian cursor over the mapped header.
class Cursor {
 public:
  Cursor(const std::byte* data, uint64_t size, const std::string& path)
      : data_(data), size_(size), path_(path) {}

  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string_view read_string(const char* what) {
    const uint64_t len = read<uint64_t>(what);
    if (len > kMaxStringBytes) fail(std::string(what) + ": string length " + std::to_string(len) + " is implausible");
    need(len, what);
    std::string_view s(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return s;
  }
  // Steps over n bytes, returning where they start.
  const std::byte* skip(uint64_t n, const char* what) {
    need(n, what);
    const std::byte* at = data_ + pos_;
    pos_ += n;
    return at;
  }
  uint64_t pos() const { return pos_; }
  [[noreturn]] void fail(const std::string& why) const {
    throw GgufError(path_ + ": " + why);
  }

 private:
  void need(uint64_t n, const char* what) const {
    if (n > size_ - pos_)
      fail(std::string("truncated file: reading ") + what + " at byte " + std::to_string(pos_) +
           " needs " + std::to_string(n) + " bytes, file has " + std::to_string(size_));
  }
  const std::byte* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
  const std::string& path_;
};

const char* value_type_name(uint32_t t) {
  static constexpr const char* names[] = {"u8",  "i8",  "u16",   "i16", "u32", "i32", "f32",
                                          "bool", "string", "array", "u64", "i64", "f64"};
  return t < std::size(names) ? names[t] : "unknown";
}

GgufScalar read_scalar(Cursor& c, uint32_t type, const char* what) {
  switch (static_cast<GgufValueType>(type)) {
    case GgufValueType::U8: return uint64_t{c.read<uint8_t>(what)};
    case GgufValueType::I8: return int64_t{c.read<int8_t>(what)};
    case GgufValueType::U16: return uint64_t{c.read<uint16_t>(what)};
    case GgufValueType::I16: return int64_t{c.read<int16_t>(what)};
    case GgufValueType::U32: return uint64_t{c.read<uint32_t>(what)};
    case GgufValueType::I32: return int64_t{c.read<int32_t>(what)};
    case GgufValueType::U64: return c.read<uint64_t>(what);
    case GgufValueType::I64: return c.read<int64_t>(what);
    case GgufValueType::F32: return double{c.read<float>(what)};
    case GgufValueType::F64: return c.read<double>(what);
    case GgufValueType::BOOL: {
      const uint8_t b = c.read<uint8_t>(what);
      if (b > 1) c.fail(std::string(what) + ": bool value " + std::to_string(b) + " is not 0 or 1");
      return b == 1;
    }
    case GgufValueType::STRING: return c.read_string(what);
    default: break;
  }
  c.fail(std::string(what) + ": unknown metadata value type " + std::to_string(type));
}

// A value of a fixed-width type t (not STRING or ARRAY) stored at p.
GgufScalar decode_fixed(const std::byte* p, GgufValueType t) {
  const auto get = [p]<typename T>(T) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
  };
  switch (t) {
    case GgufValueType::U8: return uint64_t{get(uint8_t{})};
    case GgufValueType::I8: return int64_t{get(int8_t{})};
    case GgufValueType::U16: return uint64_t{get(uint16_t{})};
    case GgufValueType::I16: return int64_t{get(int16_t{})};
    case GgufValueType::U32: return uint64_t{get(uint32_t{})};
    case GgufValueType::I32: return int64_t{get(int32_t{})};
    case GgufValueType::U64: return get(uint64_t{});
    case GgufValueType::I64: return get(int64_t{});
    case GgufValueType::F32: return double{get(float{})};
    case GgufValueType::F64: return get(double{});
    case GgufValueType::BOOL: return get(uint8_t{}) == 1;
    default: break;
  }
  throw GgufError("metadata value of type " + std::to_string(static_cast<uint32_t>(t)) + " is not fixed-width");
}

// The fewest bytes one value of type t takes in the file (a string: its 8-byte length).
uint64_t min_encoded_bytes(uint32_t t) {
  switch (static_cast<GgufValueType>(t)) {
    case GgufValueType::U8: case GgufValueType::I8: case GgufValueType::BOOL: return 1;
    case GgufValueType::U16: case GgufValueType::I16: return 2;
    case GgufValueType::U32: case GgufValueType::I32: case GgufValueType::F32: return 4;
    default: return 8;
  }
}

bool is_integer(GgufValueType t) {
  switch (t) {
    case GgufValueType::U8: case GgufValueType::I8: case GgufValueType::U16: case GgufValueType::I16:
    case GgufValueType::U32: case GgufValueType::I32: case GgufValueType::U64: case GgufValueType::I64:
      return true;
    default: return false;
  }
}

int64_t as_int(const GgufScalar& s) {
  if (auto* u = std::get_if<uint64_t>(&s)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw GgufError("integer metadata value " + std::to_string(*u) + " does not fit int64");
    return static_cast<int64_t>(*u);
  }
  return std::get<int64_t>(s);
}

}  // namespace

struct GgufFile::Mapping {
  const std::byte* data = nullptr;
  size_t size = 0;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  Mapping(const std::byte* d, size_t s) : data(d), size(s) {}
  ~Mapping() {
    if (data) munmap(const_cast<std::byte*>(data), size);
  }
};

GgufArray::GgufArray(GgufValueType type, const std::byte* first, size_t count)
    : element_type(type), first_(first), count_(count) {}

GgufArray::GgufArray(std::vector<const std::byte*> strings)
    : element_type(GgufValueType::STRING), count_(strings.size()), strings_(std::move(strings)) {}

GgufScalar GgufArray::at(size_t i) const {
  if (i >= count_) throw GgufError("metadata array index " + std::to_string(i) + " out of " + std::to_string(count_));
  if (element_type != GgufValueType::STRING) return decode_fixed(first_ + i * min_encoded_bytes(static_cast<uint32_t>(element_type)), element_type);
  // The length was checked against the file on open.
  uint64_t len;
  std::memcpy(&len, strings_[i], sizeof len);
  return std::string_view(reinterpret_cast<const char*>(strings_[i] + sizeof len), static_cast<size_t>(len));
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s.append(i ? ", " : "").append(std::to_string(shape[i]));
  return s + "]";
}

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t TensorInfo::rows() const {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

// The whole file read into private anonymous memory, advised into transparent huge pages and
// made read-only once filled. Closes fd. Refused before anything is allocated when the file is
// larger than the machine's memory (the reads would end in the OOM killer, not an error).
std::shared_ptr<GgufFile::Mapping> GgufFile::read_into_huge_pages(int fd, size_t size, const std::string& p) {
  const auto phys = static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (size > phys) {
    ::close(fd);
    throw GgufError(p + ": reading it into memory (--no-mmap) needs " + std::to_string(size >> 20) + " MiB, more than this machine's " +
                    std::to_string(phys >> 20) + " MiB; map it instead");
  }
  void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (addr == MAP_FAILED) {
    const int e = errno;
    ::close(fd);
    throw GgufError(p + ": cannot allocate " + std::to_string(size >> 20) + " MiB to read it into: " + std::strerror(e));
  }
  auto mapping = std::make_shared<Mapping>(static_cast<const std::byte*>(addr), size);  // unmapped on any throw below
  topology::advise_huge_pages(addr, size);  // advice: without THP the copy still works, in 4 KiB pages
  for (size_t done = 0; done < size;) {
    const ssize_t n = pread(fd, static_cast<char*>(addr) + done, size - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = n < 0 ? std::strerror(errno) : "the file ended early (changed while read?)";
      ::close(fd);
      throw GgufError(p + ": read failed at byte " + std::to_string(done) + " of " + std::to_string(size) + ": " + why);
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  mprotect(addr, size, PROT_READ);
  return mapping;
}

GgufFile GgufFile::open(const std::filesystem::path& path, FileMemory memory) {
  GgufFile f;
  f.path_ = path;
  const std::string p = path.string();

  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw GgufError(p + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    throw GgufError(p + ": cannot stat: " + std::strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw GgufError(p + ": not a regular file");
  }
  const auto size = static_cast<size_t>(st.st_size);
  if (size < 24) {
    ::close(fd);
    throw GgufError(p + ": truncated file: " + std::to_string(size) + " bytes is smaller than a GGUF header");
  }
  f.memory_ = memory;
  if (memory == FileMemory::huge_pages) {
    f.map_ = read_into_huge_pages(fd, size, p);
  } else {
    void* addr = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    const int map_errno = errno;
    ::close(fd);
    if (addr == MAP_FAILED) throw GgufError(p + ": mmap failed: " + std::strerror(map_errno));
    f.map_ = std::make_shared<Mapping>(static_cast<const std::byte*>(addr), size);
  }

  Cursor c(f.map_->data, size, p);
  const auto magic = c.read<uint32_t>("magic");
  // PowerInfer's converters write an ordinary GGUF and then overwrite the magic with "PWRI".
  f.powerinfer_ = magic == 0x49525750u;  // "PWRI" little-endian
  if (magic != 0x46554747u && !f.powerinfer_) {  // "GGUF" little-endian
    char m[5] = {};
    std::memcpy(m, &magic, 4);
    for (char& ch : m)
      if (ch && (ch < 32 || ch > 126)) ch = '?';
    c.fail(std::string("not a GGUF file (magic \"") + m + "\", expected \"GGUF\" or PowerInfer's \"PWRI\")");
  }
  f.version_ = c.read<uint32_t>("version");
  if (f.version_ != 2 && f.version_ != 3)
    c.fail("unsupported GGUF version " + std::to_string(f.version_) + " (supported: 2, 3)");
  const auto n_tensors = c.read<uint64_t>("tensor count");
  const auto n_kv = c.read<uint64_t>("metadata count");
  // Each entry takes at least 8+4 (kv) or 8+4+4+8 (tensor) bytes: bounds corrupt counts cheaply.
  if (n_kv > size / 12) c.fail("metadata count " + std::to_string(n_kv) + " is impossible for the file size");
  if (n_tensors > size / 24) c.fail("tensor count " + std::to_string(n_tensors) + " is impossible for the file size");

  std::unordered_set<std::string_view> keys;
  f.kv_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    const std::string_view key = c.read_string("metadata key");
    const std::string what = "metadata '" + std::string(key) + "'";
    if (!keys.insert(key).second) c.fail("duplicate " + what);
    const auto type = c.read<uint32_t>(what.c_str());
    GgufValue v{static_cast<GgufValueType>(type), {}, nullptr};
    if (v.type == GgufValueType::ARRAY) {
      const auto elem = c.read<uint32_t>(what.c_str());
      if (elem == static_cast<uint32_t>(GgufValueType::ARRAY))
        c.fail(what + ": nested arrays are not supported");
      if (elem > static_cast<uint32_t>(GgufValueType::F64))
        c.fail(what + ": unknown array element type " + std::to_string(elem));
      const auto arr_type = static_cast<GgufValueType>(elem);
      const auto n = c.read<uint64_t>(what.c_str());
      // Each element takes at least min_bytes in the file: a length the rest of the file cannot
      // hold is refused before anything is reserved for it.
      const uint64_t min_bytes = min_encoded_bytes(elem);
      if (n > (size - c.pos()) / min_bytes)
        c.fail(what + ": array length " + std::to_string(n) + " exceeds the file");
      if (arr_type == GgufValueType::STRING) {
        // Each prefix address takes 8 bytes, as the prefix itself does in the file.
        std::vector<const std::byte*> strings;
        strings.reserve(n);
        for (uint64_t j = 0; j < n; ++j) {
          strings.push_back(f.map_->data + c.pos());
          c.read_string(what.c_str());
        }
        v.array = std::make_shared<const GgufArray>(std::move(strings));
      } else {
        const std::byte* first = c.skip(n * min_bytes, what.c_str());
        if (arr_type == GgufValueType::BOOL)
          for (uint64_t j = 0; j < n; ++j)
            if (const auto b = static_cast<uint8_t>(first[j]); b > 1)
              c.fail(what + ": bool value " + std::to_string(b) + " is not 0 or 1");
        v.array = std::make_shared<const GgufArray>(arr_type, first, static_cast<size_t>(n));
      }
    } else {
      v.scalar = read_scalar(c, type, what.c_str());
    }
    f.kv_.emplace_back(std::string(key), std::move(v));
  }

  if (auto a = f.get_int("general.alignment")) {
    if (*a <= 0 || (*a & (*a - 1)) != 0 || *a > (int64_t{1} << 30))
      c.fail("general.alignment " + std::to_string(*a) + " is not a power of two from 1 to 2^30");
    f.alignment_ = static_cast<size_t>(*a);
  }

  std::unordered_set<std::string> names;
  f.tensors_.reserve(n_tensors);
  uint64_t expected_offset = 0;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo t;
    t.name = std::string(c.read_string("tensor name"));
    const std::string what = "tensor '" + t.name + "'";
    if (!names.insert(t.name).second) c.fail("duplicate " + what);
    const auto n_dims = c.read<uint32_t>(what.c_str());
    if (n_dims == 0 || n_dims > kMaxDims)
      c.fail(what + ": " + std::to_string(n_dims) + " dimensions (expected 1 to 4)");
    int64_t n_el = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const auto ne = c.read<uint64_t>(what.c_str());
      if (ne == 0 || ne > (1ull << 40)) c.fail(what + ": dimension " + std::to_string(d) + " = " + std::to_string(ne) + " is invalid");
      if (n_el > std::numeric_limits<int64_t>::max() / static_cast<int64_t>(ne)) c.fail(what + ": element count overflows");
      n_el *= static_cast<int64_t>(ne);
      t.shape.push_back(static_cast<int64_t>(ne));
    }
    auto type = c.read<uint32_t>(what.c_str());
    // PowerInfer's gguf-py numbers the integer types as the ggml of late 2023 did (I8 16,
    // I16 17, I32 18; today 24, 25, 26): its GPU index files store gpu_idx as type 18.
    if (f.powerinfer_ && type >= 16 && type <= 18) type += 8;
    // Any type ggml defines is accepted here (its size is known); whether this engine can
    // read it is the model loader's question, asked after the architecture's.
    const TypeTraits* tt = find_type_traits(type);
    if (!tt) c.fail(what + ": unsupported tensor " + type_name(type) + " (no ggml type has this id)");
    t.type = static_cast<GgmlType>(type);
    if (t.shape[0] % tt->block_elems != 0)
      c.fail(what + ": row length " + std::to_string(t.shape[0]) + " is not a multiple of " +
             std::string(tt->name) + "'s block size " + std::to_string(tt->block_elems));
    const int64_t n_blocks = n_el / tt->block_elems;
    if (n_blocks > std::numeric_limits<int64_t>::max() / static_cast<int64_t>(tt->block_bytes))
      c.fail(what + ": byte size of " + std::to_string(n_el) + " " + std::string(tt->name) + " elements overflows");
    t.n_bytes = n_blocks * static_cast<int64_t>(tt->block_bytes);
    t.offset = c.read<uint64_t>(what.c_str());
    if (t.offset % f.alignment_ != 0)
      c.fail(what + ": data offset " + std::to_string(t.offset) + " is not aligned to " + std::to_string(f.alignment_));
    // As ggml requires: tensors lie in order, each at the running padded size of the ones before.
    // Overlapping or aliased data, a flipped offset bit and a relabelled type whose size no longer
    // tiles the data section all break this.
    if (t.offset != expected_offset)
      c.fail(what + ": data offset " + std::to_string(t.offset) + ", expected " + std::to_string(expected_offset) +
             " (the padded end of the tensors before it; overlapping, out-of-order or mislabelled tensor data)");
    // Bounded by the file before the sum can overflow (the exact check against the data
    // section follows once the header's end is known).
    const auto n_bytes = static_cast<uint64_t>(t.n_bytes);
    if (n_bytes > size || expected_offset > size - n_bytes)
      c.fail("truncated file: tensor '" + t.name + "' needs " + std::to_string(t.n_bytes) + " bytes at data offset " +
             std::to_string(t.offset) + ", beyond the file's " + std::to_string(size) + " bytes");
    expected_offset += (n_bytes + f.alignment_ - 1) / f.alignment_ * f.alignment_;
    f.tensors_.push_back(std::move(t));
  }

  const uint64_t header_end = c.pos();
  f.data_offset_ = (header_end + f.alignment_ - 1) / f.alignment_ * f.alignment_;
  if (f.data_offset_ > size && n_tensors > 0) c.fail("truncated file: no room for tensor data after the header");
  const uint64_t data_size = size > f.data_offset_ ? size - f.data_offset_ : 0;
  for (const TensorInfo& t : f.tensors_) {
    if (t.offset > data_size || static_cast<uint64_t>(t.n_bytes) > data_size - t.offset)
      c.fail("truncated file: tensor '" + t.name + "' needs bytes " + std::to_string(t.offset) + ".." +
             std::to_string(t.offset + t.n_bytes) + " of the data section, which has " + std::to_string(data_size));
  }
  return f;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  for (const auto& [k, v] : kv_)
    if (k == key) return &v;
  return nullptr;
}

namespace {
[[noreturn]] void wrong_type(const std::filesystem::path& path, std::string_view key, GgufValueType got, const char* want) {
  throw GgufError(path.string() + ": metadata '" + std::string(key) + "' is " +
                  value_type_name(static_cast<uint32_t>(got)) + ", expected " + want);
}
}  // namespace

std::optional<std::string_view> GgufFile::get_string(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufValueType::STRING) wrong_type(path_, key, v->type, "string");
  return std::get<std::string_view>(v->scalar);
}

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (!is_integer(v->type)) wrong_type(path_, key, v->type, "an integer");
  return as_int(v->scalar);
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type == GgufValueType::F32 || v->type == GgufValueType::F64) return std::get<double>(v->scalar);
  if (is_integer(v->type)) return static_cast<double>(as_int(v->scalar));
  wrong_type(path_, key, v->type, "a number");
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufValueType::BOOL) wrong_type(path_, key, v->type, "bool");
  return std::get<bool>(v->scalar);
}

std::optional<std::vector<std::string_view>> GgufFile::get_string_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufValueType::ARRAY || v->array->element_type != GgufValueType::STRING)
    wrong_type(path_, key, v->type, "an array of strings");
  std::vector<std::string_view> out;
  out.reserve(v->array->size());
  for (size_t i = 0; i < v->array->size(); ++i) out.push_back(std::get<std::string_view>(v->array->at(i)));
  return out;
}

std::optional<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufValueType::ARRAY || !is_integer(v->array->element_type))
    wrong_type(path_, key, v->type, "an array of integers");
  std::vector<int64_t> out;
  out.reserve(v->array->size());
  for (size_t i = 0; i < v->array->size(); ++i) out.push_back(as_int(v->array->at(i)));
  return out;
}

std::optional<std::vector<float>> GgufFile::get_float_array(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufValueType::ARRAY ||
      (v->array->element_type != GgufValueType::F32 && v->array->element_type != GgufValueType::F64))
    wrong_type(path_, key, v->type, "an array of floats");
  std::vector<float> out;
  out.reserve(v->array->size());
  for (size_t i = 0; i < v->array->size(); ++i) out.push_back(static_cast<float>(std::get<double>(v->array->at(i))));
  return out;
}

const TensorInfo* GgufFile::find_tensor(std::string_view name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

const std::byte* GgufFile::data_begin() const { return map_->data + data_offset_; }

uint64_t GgufFile::size_bytes() const { return map_->size; }

std::span<const std::byte> GgufFile::tensor_data(const TensorInfo& t) const {
  return {data_begin() + t.offset, static_cast<size_t>(t.n_bytes)};
}

std::vector<float> GgufFile::f32_values(const TensorInfo& t) const {
  if (t.type != GgmlType::F32) throw std::invalid_argument("tensor '" + t.name + "' is not F32");
  const std::span<const std::byte> bytes = tensor_data(t);
  std::vector<float> values(bytes.size() / sizeof(float));
  std::memcpy(values.data(), bytes.data(), values.size() * sizeof(float));
  return values;
}

}  // namespace actinfer
