// `actinfer quantize IN.gguf OUT.gguf TYPE`: llama-quantize's mixes (model/quantize_mix.h).
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

#include "model/quantize_model.h"
#include "tools/commands.h"
#include "tools/progress_bar.h"
#include "tools/text_input.h"

namespace actinfer::tools {

namespace {

struct QuantizeOptions {
  std::string in, out, type;
  int threads = 0;
  bool pure = false;
  bool quiet = false;
};

void run_quantize(const QuantizeOptions& o) {
  const std::optional<QuantMix> mix = parse_quant_mix(o.type);
  if (!mix) throw CLI::ValidationError("TYPE '" + o.type + "' is not one of " + quant_mix_names());
  if (!std::filesystem::exists(o.in)) throw std::runtime_error("model file '" + o.in + "' not found");
  if (o.threads < 0) throw CLI::ValidationError("--threads must be >= 0 (0: all cores), got " + std::to_string(o.threads));

  QuantizeModelOptions qo;
  qo.mix = *mix;
  qo.pure = o.pure;
  qo.threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::optional<ProgressBar> bar;
  if (!o.quiet) bar.emplace();
  auto progress = [&](uint64_t done, uint64_t total, const std::string& name) {
    if (bar) bar->update(static_cast<double>(done), static_cast<double>(total), name.empty() ? "done" : name);
  };
  const auto t0 = std::chrono::steady_clock::now();
  const QuantizeModelReport r = quantize_model(o.in, o.out, qo, progress);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::string types;
  for (const auto& [name, count] : r.type_counts) types += (types.empty() ? "" : ", ") + std::to_string(count) + " " + name;
  const double bpw_in = r.n_elements ? 8.0 * static_cast<double>(r.bytes_in) / static_cast<double>(r.n_elements) : 0;
  const double bpw_out = r.n_elements ? 8.0 * static_cast<double>(r.bytes_out) / static_cast<double>(r.n_elements) : 0;
  std::printf("quantized %s -> %s (%s%s): %zu tensors (%s), %zu converted, %zu fell back for their row length; "
              "%.2f MiB (%.2f BPW) -> %.2f MiB (%.2f BPW), %s\n",
              o.in.c_str(), o.out.c_str(), std::string(quant_mix_name(*mix)).c_str(), o.pure ? ", pure" : "", r.n_tensors,
              types.c_str(), r.n_converted, r.n_fallback, static_cast<double>(r.bytes_in) / (1 << 20), bpw_in,
              static_cast<double>(r.bytes_out) / (1 << 20), bpw_out, format_duration(secs).c_str());
}

}  // namespace

void register_quantize(CLI::App& app) {
  auto o = std::make_shared<QuantizeOptions>();
  CLI::App* sub = app.add_subcommand(
      "quantize",
      "Write a model in one of llama.cpp's quantization mixes, with llama-quantize's per-tensor rules "
      "(which tensors get more bits, fallbacks for rows that are not a multiple of 256)");
  sub->add_option("input", o->in, "Input .gguf (F32/F16/BF16 or any type actinfer reads)")->required();
  sub->add_option("output", o->out, "Output .gguf (written to a temporary file, renamed when complete)")->required();
  sub->add_option("type", o->type, "Mix: " + quant_mix_names() + " (Q3_K/Q4_K/Q5_K: the _M mixes)")->required();
  sub->add_option("-t,--threads", o->threads, "Threads (0: all cores)")->capture_default_str();
  sub->add_flag("--pure", o->pure, "Every quantized tensor in the mix's base type (no per-tensor rules)");
  sub->add_flag("-q,--quiet", o->quiet, "No progress bar");
  sub->callback([o] { run_quantize(*o); });
}

}  // namespace actinfer::tools
