#include "model/quantize_model.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kernels/dequantize.h"
#include "kernels/quantize.h"
#include "model/gguf_file.h"
#include "model/gguf_writer.h"

namespace actinfer {

namespace {

template <typename T>
T as(const GgufScalar& s) {
  if (const auto* u = std::get_if<uint64_t>(&s)) return static_cast<T>(*u);
  if (const auto* i = std::get_if<int64_t>(&s)) return static_cast<T>(*i);
  if (const auto* d = std::get_if<double>(&s)) return static_cast<T>(*d);
  if (const auto* b = std::get_if<bool>(&s)) return static_cast<T>(*b);
  throw std::runtime_error("metadata value of unexpected kind");
}

template <typename T>
std::vector<T> items_as(const GgufArray& a) {
  std::vector<T> v;
  v.reserve(a.size());
  for (size_t i = 0; i < a.size(); ++i) v.push_back(as<T>(a.at(i)));
  return v;
}

void copy_array(GgufWriter& w, const std::string& key, const GgufArray& a) {
  using V = GgufValueType;
  switch (a.element_type) {
    case V::U8: w.add_u8_array(key, items_as<uint8_t>(a)); return;
    case V::I8: w.add_i8_array(key, items_as<int8_t>(a)); return;
    case V::U16: w.add_u16_array(key, items_as<uint16_t>(a)); return;
    case V::I16: w.add_i16_array(key, items_as<int16_t>(a)); return;
    case V::U32: w.add_u32_array(key, items_as<uint32_t>(a)); return;
    case V::I32: w.add_i32_array(key, items_as<int32_t>(a)); return;
    case V::U64: w.add_u64_array(key, items_as<uint64_t>(a)); return;
    case V::I64: w.add_i64_array(key, items_as<int64_t>(a)); return;
    case V::F32: w.add_f32_array(key, items_as<float>(a)); return;
    case V::F64: w.add_f64_array(key, items_as<double>(a)); return;
    case V::BOOL: {
      std::vector<bool> v;
      for (size_t i = 0; i < a.size(); ++i) v.push_back(as<bool>(a.at(i)));
      w.add_bool_array(key, v);
      return;
    }
    case V::STRING: {
      std::vector<std::string> v;
      v.reserve(a.size());
      for (size_t i = 0; i < a.size(); ++i) v.emplace_back(std::get<std::string_view>(a.at(i)));
      w.add_string_array(key, v);
      return;
    }
    case V::ARRAY: break;
  }
  throw std::runtime_error("metadata " + key + ": arrays of this type cannot be copied");
}

void copy_value(GgufWriter& w, const std::string& key, const GgufValue& v) {
  using V = GgufValueType;
  switch (v.type) {
    case V::U8: w.add_u8(key, as<uint8_t>(v.scalar)); return;
    case V::I8: w.add_i8(key, as<int8_t>(v.scalar)); return;
    case V::U16: w.add_u16(key, as<uint16_t>(v.scalar)); return;
    case V::I16: w.add_i16(key, as<int16_t>(v.scalar)); return;
    case V::U32: w.add_u32(key, as<uint32_t>(v.scalar)); return;
    case V::I32: w.add_i32(key, as<int32_t>(v.scalar)); return;
    case V::U64: w.add_u64(key, as<uint64_t>(v.scalar)); return;
    case V::I64: w.add_i64(key, as<int64_t>(v.scalar)); return;
    case V::F32: w.add_f32(key, as<float>(v.scalar)); return;
    case V::F64: w.add_f64(key, as<double>(v.scalar)); return;
    case V::BOOL: w.add_bool(key, as<bool>(v.scalar)); return;
    case V::STRING: w.add_string(key, std::get<std::string_view>(v.scalar)); return;
    case V::ARRAY: copy_array(w, key, *v.array); return;
  }
}

// An integer hyperparameter; per-layer arrays give their first entry.
int model_int(const GgufFile& f, const std::string& key, int fallback) {
  const GgufValue* v = f.find(key);
  if (!v) return fallback;
  if (v->type == GgufValueType::ARRAY) {
    const auto a = f.get_int_array(key);
    return a && !a->empty() ? static_cast<int>(a->front()) : fallback;
  }
  return static_cast<int>(f.get_int(key).value_or(fallback));
}

QuantModelInfo model_info(const GgufFile& f) {
  QuantModelInfo m;
  const auto arch = f.get_string("general.architecture");
  if (!arch) throw GgufError(f.path().string() + ": no general.architecture");
  m.arch = std::string(*arch);
  const std::string a = m.arch + ".";
  m.n_layer = model_int(f, a + "block_count", -1);
  if (m.n_layer <= 0) throw GgufError(f.path().string() + ": no " + a + "block_count");
  m.n_head = model_int(f, a + "attention.head_count", 1);
  m.n_head_kv = model_int(f, a + "attention.head_count_kv", m.n_head);
  m.n_expert = model_int(f, a + "expert_count", 0);
  return m;
}

bool can_read(GgmlType t) { return type_row(t).dequantize != nullptr; }

// Converts one tensor, rows in batches spread over the threads, into the sink.
void convert_tensor(const TensorInfo& t, std::span<const std::byte> src, GgmlType to, int threads,
                    GgufWriter::TensorSink& sink) {
  const int64_t ne0 = t.shape[0];
  const int64_t rows = t.n_elements() / ne0;
  const auto in_row = static_cast<size_t>(row_bytes(t.type, ne0));
  const auto out_row = static_cast<size_t>(row_bytes(to, ne0));
  const int64_t batch = std::max<int64_t>(1, (int64_t{1} << 20) / ne0);
  std::vector<std::byte> out(static_cast<size_t>(std::min(batch, rows)) * out_row);
  const int n_workers = std::max(1, threads);
  for (int64_t r0 = 0; r0 < rows; r0 += batch) {
    const int64_t nr = std::min(batch, rows - r0);
    auto work = [&](int64_t first, int64_t last) {
      std::vector<float> f(static_cast<size_t>(ne0));
      for (int64_t r = first; r < last; ++r) {
        dequantize_row(t.type, src.data() + static_cast<size_t>(r0 + r) * in_row, f.data(), ne0);
        quantize_row(to, f.data(), out.data() + static_cast<size_t>(r) * out_row, ne0);
      }
    };
    const int64_t per = (nr + n_workers - 1) / n_workers;
    std::vector<std::jthread> pool;
    for (int w = 1; w < n_workers && w * per < nr; ++w) pool.emplace_back(work, w * per, std::min(nr, (w + 1) * per));
    work(0, std::min(nr, per));
    pool.clear();  // joins
    sink.write(out.data(), static_cast<size_t>(nr) * out_row);
  }
}

}  // namespace

QuantizeModelReport quantize_model(const std::filesystem::path& in, const std::filesystem::path& out,
                                   const QuantizeModelOptions& o, const QuantizeProgressFn& progress) {
  const auto file = std::make_shared<GgufFile>(GgufFile::open(in));
  const QuantModelInfo info = model_info(*file);

  std::vector<QuantTensorIn> tensors;
  for (const TensorInfo& t : file->tensors()) tensors.push_back({t.name, t.type, t.shape});
  const std::vector<QuantTensorPlan> plan = plan_quant_mix(o.mix, info, tensors, o.pure);

  GgufWriter w(static_cast<uint32_t>(file->alignment()));
  constexpr std::string_view kSet[] = {"general.quantization_version", "general.file_type", "split.no", "split.count",
                                       "split.tensors.count"};
  for (const auto& [key, value] : file->metadata()) {
    if (std::find(std::begin(kSet), std::end(kSet), key) != std::end(kSet)) continue;
    if (key == "general.alignment") continue;  // the writer adds it for its alignment
    copy_value(w, key, value);
  }
  w.add_u32("general.quantization_version", 2);
  w.add_u32("general.file_type", static_cast<uint32_t>(o.mix));

  QuantizeModelReport report;
  for (const QuantTensorPlan& p : plan) {
    const TensorInfo& t = file->tensors()[p.index];
    report.n_tensors++;
    report.n_fallback += p.fallback ? 1 : 0;
    report.bytes_in += static_cast<uint64_t>(t.n_bytes);
    report.n_elements += static_cast<uint64_t>(t.n_elements());
    report.type_counts[std::string(traits(p.type).name)]++;
    const std::span<const std::byte> src = file->tensor_data(t);
    if (p.type == t.type) {
      // Unchanged: the bytes are copied straight from the mapped input.
      w.add_tensor_stream(t.name, t.type, t.shape, [file, src](GgufWriter::TensorSink& s) { s.write(src.data(), src.size()); });
      report.bytes_out += static_cast<uint64_t>(t.n_bytes);
      continue;
    }
    if (!can_read(t.type))
      throw std::runtime_error("tensor " + t.name + ": type " + type_name(t.type) +
                               " cannot be read for requantizing");
    report.n_converted++;
    report.bytes_out += static_cast<uint64_t>(GgufWriter::tensor_bytes(p.type, t.shape));
    const int threads = o.threads;
    w.add_tensor_stream(t.name, p.type, t.shape, [file, &t, src, to = p.type, threads](GgufWriter::TensorSink& s) {
      convert_tensor(t, src, to, threads, s);
    });
  }

  GgufWriter::ProgressFn on_progress;
  if (progress)
    on_progress = [&progress](const GgufWriter::Progress& p) {
      progress(p.bytes_done, p.bytes_total, p.name ? *p.name : std::string());
    };
  w.write(out, on_progress);
  return report;
}

}  // namespace actinfer
