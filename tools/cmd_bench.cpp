// `actinfer bench`: prompt and decode tokens/s (median of repeats), weight bytes
// read per decoded token, and how close decode gets to the memory roofline and a
// prompt to the compute roofline (FMA peak), both measured in the same run.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "actors/actor_runtime.h"
#include "engine/decode_input.h"
#include "engine/dense_engine.h"
#include "kernels/compute_peak.h"
#include "kernels/memory_bandwidth.h"
#include "model/model_weights.h"
#include "model/tokenizer.h"
#include "tools/bench_timing.h"
#include "tools/cli_support.h"
#include "tools/commands.h"
#include "tools/interrupt.h"
#include "tools/model_options.h"
#include "tools/runtime_choice.h"
#include "tools/text_input.h"

namespace actinfer::tools {
namespace {

struct BenchOptions {
  ModelOptions model;
  RuntimeChoice runtime;
  std::string which = "both";
  // Sweeps (-p, -n, -t take comma lists): every combination is one measurement.
  std::vector<int> n_prompts{64}, n_gens{64}, thread_counts{0}, depths{0};
  std::string format = "text";  // -o: text, md, csv or json
  // One measurement's values (from the lists above) and where its report goes: stdout
  // for -o text, else stderr, so that stdout holds only the table.
  int n_prompt = 64;
  int n_gen = 64;
  int depth = 0;  // tokens already in the KV cache when prompt and decode runs start
  FILE* out = stdout;
  int repeats = 5;
  size_t bandwidth_mib = 256;
  std::string text_path;  // prompt and decoded tokens from this text instead of random ones
};

struct Speeds {
  std::vector<double> pp, tg;
  protocol::PredictorStats decode;  // the actor runtime's predictor, over the decode runs
  int64_t decoded = 0;
};

// Prompt and decode runs after `context` tokens (untimed; empty: from an empty cache),
// interleaved repeat by repeat.
void run_once(Evaluator& ev, const DecodeInput& tokens, const std::vector<int32_t>& context, int n_gen, Speeds& out) {
  const std::vector<int32_t>& prompt = tokens.prompt;
  const int depth = static_cast<int>(context.size());
  if (depth > 0) {
    ev.rewind(0);
    ev.eval(context, false);
  }
  if (!prompt.empty()) {
    ev.rewind(depth);
    const auto t0 = std::chrono::steady_clock::now();
    ev.eval(prompt, false);
    out.pp.push_back(static_cast<double>(prompt.size()) / seconds_since(t0));
  }
  if (n_gen > 0) {
    auto* actors = dynamic_cast<ActorRuntime*>(&ev);
    if (actors) actors->predictor_stats(true);
    const auto t0 = std::chrono::steady_clock::now();
    decode_steps(ev, tokens, n_gen, depth);
    out.tg.push_back(n_gen / seconds_since(t0));
    if (actors) out.decode += actors->predictor_stats(false);
    out.decoded += n_gen;
  }
}

// Weight bytes one decoded token reads in the actor runtime: attention and lm_head,
// the FFN bytes the workers report (bundle records; a ReLU neuron predicted active
// whose gate does not fire costs only its gate row), and the predictor.
struct DecodeBytes {
  double fixed = 0, ffn = 0, predictor = 0;
  double total() const { return fixed + ffn + predictor; }
};

DecodeBytes decode_bytes(const ActorRuntime& rt, const Speeds& s) {
  DecodeBytes b;
  b.fixed = static_cast<double>(rt.fixed_bytes_per_token());
  b.ffn = s.decoded ? static_cast<double>(s.decode.ffn_weight_bytes) / static_cast<double>(s.decoded) : 0;
  b.predictor = static_cast<double>(rt.predictor_bytes_per_token());
  return b;
}

// The prompt's work and the machine's arithmetic peak: what a prompt's speed is judged against.
struct PromptRoofline {
  double flops_per_token = 0;  // 0: no prompt measured
  double peak = 0;             // FLOP/s
  bool float_weights = true;   // every layer matrix F32, F16 or BF16: its matmuls are float FMAs
};

bool float_weights(const ModelWeights& w) {
  for (const auto& l : w.layers())
    for (const WeightMatrix* m : l.matrices())
      if (m->rows > 0 && m->type != GgmlType::F32 && m->type != GgmlType::F16 && m->type != GgmlType::BF16) return false;
  return true;
}

void print_speeds(const char* label, const Speeds& s, const BenchOptions& o, double bytes, double peak, const PromptRoofline& compute) {
  const std::string at = o.depth > 0 ? " @ d" + std::to_string(o.depth) : "";
  if (!s.pp.empty()) {
    const double pp = median(s.pp);
    std::fprintf(o.out, "%-7s prompt pp%-4d%s %8.1f tokens/s (median of %d)\n", label, o.n_prompt, at.c_str(), pp, o.repeats);
    std::fprintf(o.out, "%-7s achieved     %.1f GFLOP/s = %.0f%% of the measured FMA peak%s\n", label, pp * compute.flops_per_token / 1e9,
                100.0 * pp * compute.flops_per_token / compute.peak,
                compute.float_weights ? "" : " (quantized matrices multiply in integer dot products, which may pass the float peak)");
  }
  if (s.tg.empty()) return;
  const double t = median(s.tg);
  std::fprintf(o.out, "%-7s decode tg%-4d%s %8.1f tokens/s (median of %d; min %.1f, max %.1f)\n", label, o.n_gen, at.c_str(), t, o.repeats,
              *std::min_element(s.tg.begin(), s.tg.end()), *std::max_element(s.tg.begin(), s.tg.end()));
  std::fprintf(o.out, "%-7s achieved bw  %.1f GB/s = %.0f%% of measured read bandwidth (%.1f MB read per token)\n", label, t * bytes / 1e9,
              100.0 * t * bytes / peak, bytes / 1e6);
}

void print_sparsity(FILE* out, const char* label, const ActorRuntime& rt, const Speeds& s, const DecodeBytes& b, double dense_bytes) {
  const auto& st = s.decode;
  std::fprintf(out, "%-7s FFN computed %.1f%% of neurons per token (predictor %s", label, 100.0 * st.fraction_computed(), std::string(to_string(rt.predictor_mode())).c_str());
  if (st.truth_checked) std::fprintf(out, ", recall %.4f", st.recall());
  std::fprintf(out, ")\n");
  std::fprintf(out, "%-7s bytes/token  %.1f MB = attention+head %.1f + FFN %.1f + predictor %.1f (dense %.1f MB: ceiling %.2fx)\n", label,
              b.total() / 1e6, b.fixed / 1e6, b.ffn / 1e6, b.predictor / 1e6, dense_bytes / 1e6, dense_bytes / b.total());
  if (s.decoded)
    std::fprintf(out, "%-7s predictor    %.1f us per token (all layers)\n", label, static_cast<double>(st.predict_ns) / 1e3 / static_cast<double>(s.decoded));
}

DecodeInput bench_tokens(const BenchOptions& o, const ModelWeights& weights) {
  if (o.text_path.empty()) return random_decode_input(weights.config().n_vocab, o.n_prompt, 1234);
  const Tokenizer tokenizer(tokenizer_data_from_gguf(weights.file()));
  const std::string text = read_text_file(o.text_path, "any text; tools/make_eval_text.sh writes the evaluation text");
  return text_decode_input(tokenize_document(tokenizer, text), o.n_prompt, o.n_gen, o.text_path);
}

// What bench's context is for, in a refusal above the trained context.
std::string min_ctx_for(const BenchOptions& o) {
  return (o.depth > 0 ? "-d " + std::to_string(o.depth) + " tokens of context, " : std::string()) + "-p " + std::to_string(o.n_prompt) +
         " prompt tokens and -n " + std::to_string(o.n_gen) + " generated (plus one)";
}

// A trained predictor's recall on the decoded tokens: one more, untimed, decode run in a
// runtime that also computes the true active sets (which costs time, so not in the
// timed runs).
void print_decode_recall(const char* label, const BenchOptions& o, const DeploymentConfig& config, std::shared_ptr<const ModelWeights> weights,
                         const ModelOptions& mo, const DecodeInput& tokens) {
  DeploymentConfig checked = config;
  checked.check_recall = true;
  checked.trace.clear();  // the timed runs' trace stays theirs
  const auto ev = o.runtime.make(std::move(checked), std::move(weights), mo, "actors", o.n_prompt + o.n_gen + 1, min_ctx_for(o));
  auto& rt = dynamic_cast<ActorRuntime&>(*ev);
  rt.predictor_stats(true);
  decode_steps(rt, tokens, o.n_gen);
  const protocol::PredictorStats st = rt.predictor_stats(false);
  std::fprintf(o.out, "%-7s recall       %.4f of the truly firing neurons predicted, over the %d decoded tokens of %s (untimed run)\n", label,
              st.recall(), o.n_gen, o.text_path.empty() ? "random tokens (unlike the text a predictor learnt; -f TEXT decodes real text)" : o.text_path.c_str());
}

// One runtime's figures of one measurement: a row of the -o md|csv|json table.
struct BenchRow {
  std::string model, runtime;
  int threads = 0, n_prompt = 0, n_gen = 0, depth = 0;
  double pp = 0, tg = 0;  // medians, tokens/s (0: not measured)
  PromptRoofline compute;
};

void bench(const BenchOptions& o, std::vector<BenchRow>& rows) {
  const DeploymentConfig config = o.runtime.load();
  auto weights = o.runtime.load_weights(config, o.model);
  const ModelConfig& c = weights->config();
  ModelOptions mo = o.model;
  const int min_ctx = o.depth + o.n_prompt + o.n_gen + 1;
  mo.n_ctx = std::max(mo.n_ctx, min_ctx);
  const DecodeInput tokens = bench_tokens(o, *weights);  // before the runtimes: a short text fails fast
  const std::vector<int32_t> context = random_decode_input(c.n_vocab, o.depth, 4321).prompt;

  // --runtime picks one runtime; otherwise --compare (both by default, for the ratio).
  const std::string which = o.runtime.runtime.empty() ? o.which : o.runtime.runtime;
  std::vector<std::pair<std::string, std::unique_ptr<Evaluator>>> runtimes;
  if (which != "actors") runtimes.emplace_back("dense", o.runtime.make(config, weights, mo, "dense", min_ctx, min_ctx_for(o)));
  if (which != "dense")
    runtimes.emplace_back(config.sparse ? "sparse" : "actors", o.runtime.make(config, weights, mo, "actors", min_ctx, min_ctx_for(o)));

  const std::vector<int32_t>& prompt = tokens.prompt;

  std::vector<Speeds> speeds(runtimes.size());
  for (auto& [name, ev] : runtimes) {  // warm-up: fault in the weights, settle the caches
    ev->rewind(0);
    const std::vector<int32_t> warm = prompt.empty() ? std::vector<int32_t>{0} : prompt;
    ev->eval(std::span<const int32_t>(warm.data(), std::min<size_t>(warm.size(), 8)), false);
  }
  for (int r = 0; r < o.repeats; ++r, interrupt::throw_if_requested())  // interleaved, so drift on a shared machine hits both alike
    for (size_t i = 0; i < runtimes.size(); ++i) run_once(*runtimes[i].second, tokens, context, o.n_gen, speeds[i]);
  const int threads = default_thread_count(o.model.threads);
  const BandwidthResult bw = measure_read_bandwidth(o.bandwidth_mib << 20, threads);

  const double bytes = static_cast<double>(weights->bytes_per_decoded_token());
  std::fprintf(o.out, "model        %s (%s, %d layers, width %d, ffn %d, vocab %d)\n", weights->file().path().filename().c_str(),
              c.name.c_str(), c.n_layers, c.d_model, c.d_ff, c.n_vocab);
  std::fprintf(o.out, "threads      %d\n", threads);
  std::fprintf(o.out, "read bw      %.1f GB/s (%d threads, %zu MiB array, best of 5)\n", bw.bytes_per_second / 1e9, threads, o.bandwidth_mib);
  std::fprintf(o.out, "weights/tok  %.1f MB read per decoded token\n", bytes / 1e6);
  std::fprintf(o.out, "roofline     %.1f tokens/s (read bw / bytes per token)\n", bw.bytes_per_second / bytes);
  PromptRoofline compute;
  compute.float_weights = float_weights(*weights);
  if (o.n_prompt > 0) {
    const ComputePeakResult fma = measure_fma_peak(threads);
    compute.flops_per_token = weights->prompt_flops(o.n_prompt, o.depth) / o.n_prompt;
    compute.peak = fma.flops_per_second;
    std::fprintf(o.out, "fma peak     %.1f GFLOP/s (%d threads, %d-float fused multiply-adds in registers, best of 5)\n", fma.flops_per_second / 1e9,
                threads, fma.vector_floats);
    std::fprintf(o.out, "prompt work  %.3f GFLOP per prompt token (matrices, attention at depth %d, the head once)\n", compute.flops_per_token / 1e9,
                o.depth);
    std::fprintf(o.out, "compute roof %.1f tokens/s (FMA peak / FLOPs per prompt token)\n", compute.peak / compute.flops_per_token);
  }
  bool sparse = false;
  for (size_t i = 0; i < runtimes.size(); ++i) {
    const auto* rt = dynamic_cast<const ActorRuntime*>(runtimes[i].second.get());
    const char* label = runtimes[i].first.c_str();
    rows.push_back({weights->file().path().filename().string(), label, threads, o.n_prompt, o.n_gen, o.depth,
                    speeds[i].pp.empty() ? 0.0 : median(speeds[i].pp), speeds[i].tg.empty() ? 0.0 : median(speeds[i].tg), compute});
    if (rt && rt->sparse() && !speeds[i].tg.empty()) {
      sparse = true;
      const DecodeBytes b = decode_bytes(*rt, speeds[i]);
      print_speeds(label, speeds[i], o, b.total(), bw.bytes_per_second, compute);
      print_sparsity(o.out, label, *rt, speeds[i], b, bytes);
      if (rt->predictor_mode() == PredictorMode::trained && !speeds[i].decode.truth_checked) print_decode_recall(label, o, config, weights, mo, tokens);
    } else {
      print_speeds(label, speeds[i], o, bytes, bw.bytes_per_second, compute);
    }
  }
  if (runtimes.size() == 2 && !speeds[0].tg.empty()) {
    const double ratio = median(speeds[1].tg) / median(speeds[0].tg);
    // Each repeat ran both back to back: their ratios are less exposed to the machine's drift.
    std::vector<double> pairs;
    for (size_t r = 0; r < speeds[0].tg.size() && r < speeds[1].tg.size(); ++r) pairs.push_back(speeds[1].tg[r] / speeds[0].tg[r]);
    if (sparse)
      std::fprintf(o.out, "sparse/dense decode %.3f (median of the %zu back-to-back pairs' ratios %.3f; min %.3f, max %.3f)\n", ratio, pairs.size(),
                  median(pairs), *std::min_element(pairs.begin(), pairs.end()), *std::max_element(pairs.begin(), pairs.end()));
    else
      std::fprintf(o.out, "actors/dense decode %.3f (messaging and scheduling overhead %.1f%% of token time)\n", ratio, 100.0 * (1.0 / ratio - 1.0));
  }
  for (auto& [name, ev] : runtimes) finish_trace(*ev, config.trace);
}

void print_table(const std::vector<BenchRow>& rows, const std::string& format) {
  if (format == "md") {
    std::printf("| model | runtime | threads | depth | n_prompt | n_gen | prompt t/s | decode t/s |\n");
    std::printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (const BenchRow& r : rows)
      std::printf("| %s | %s | %d | %d | %d | %d | %.2f | %.2f |\n", r.model.c_str(), r.runtime.c_str(), r.threads, r.depth, r.n_prompt, r.n_gen, r.pp, r.tg);
  } else if (format == "csv") {
    std::printf("model,runtime,threads,depth,n_prompt,n_gen,prompt_tokens_per_s,decode_tokens_per_s\n");
    for (const BenchRow& r : rows)
      std::printf("%s,%s,%d,%d,%d,%d,%.3f,%.3f\n", r.model.c_str(), r.runtime.c_str(), r.threads, r.depth, r.n_prompt, r.n_gen, r.pp, r.tg);
  } else if (format == "json") {
    nlohmann::json all = nlohmann::json::array();
    for (const BenchRow& r : rows)
      all.push_back({{"model", r.model}, {"runtime", r.runtime}, {"threads", r.threads}, {"depth", r.depth}, {"n_prompt", r.n_prompt}, {"n_gen", r.n_gen},
                     {"prompt_tokens_per_s", r.pp}, {"decode_tokens_per_s", r.tg},
                     // 0 when no prompt ran; FLOP/s needed for 1 token/s, and the FMA peak measured beside it
                     {"prompt_flops_per_token", r.compute.flops_per_token}, {"fma_peak_flops_per_s", r.compute.peak},
                     {"float_weights", r.compute.float_weights}});
    std::printf("%s\n", all.dump(2).c_str());
  }
}

// Every combination of the -t, -d, -p and -n lists, in that nesting order.
void bench_sweep(const BenchOptions& options) {
  std::vector<BenchRow> rows;
  BenchOptions o = options;
  o.out = o.format == "text" ? stdout : stderr;
  const size_t n_runs = o.thread_counts.size() * o.depths.size() * o.n_prompts.size() * o.n_gens.size();
  for (const int t : options.thread_counts)
    for (const int d : options.depths)
      for (const int p : options.n_prompts)
        for (const int n : options.n_gens) {
          o.model.threads = t;
          o.depth = d;
          o.n_prompt = p;
          o.n_gen = n;
          if (n_runs > 1)
            std::fprintf(o.out, "%s== threads %d, -d %d, -p %d, -n %d\n", rows.empty() ? "" : "\n", default_thread_count(t), d, p, n);
          bench(o, rows);
          interrupt::throw_if_requested();
        }
  print_table(rows, o.format);
}

}  // namespace

void register_bench(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "measure prompt and decode speed against the compute and memory rooflines");
  o->model.add_to(*cmd, /*with_threads=*/false);
  o->runtime.add_to(*cmd, true);
  cmd->add_option("--compare", o->which, "which runtimes to measure: both (ratio in one run), actors or dense")
      ->check(CLI::IsMember({"both", "actors", "dense"}))
      ->capture_default_str();
  cmd->add_option("-p,--n-prompt", o->n_prompts, "prompt tokens (0: skip); a comma list sweeps")
      ->delimiter(',')->check(at_least(0))->capture_default_str();
  cmd->add_option("-n,--n-gen", o->n_gens, "decoded tokens (0: skip); a comma list sweeps")
      ->delimiter(',')->check(at_least(0))->capture_default_str();
  cmd->add_option("-d,--depth", o->depths, "tokens already in the KV cache before each prompt and decode run (untimed), as llama-bench -d; a comma list sweeps")
      ->delimiter(',')->check(at_least(0))->capture_default_str();
  cmd->add_option("-t,--threads", o->thread_counts, "compute threads (0: all cores); a comma list sweeps")
      ->delimiter(',')->check(at_least(0))->capture_default_str();
  cmd->add_option("-o,--output", o->format, "report: text, or a table of every run as md, csv or json (the text then goes to stderr)")
      ->check(CLI::IsMember({"text", "md", "csv", "json"}))->capture_default_str();
  cmd->add_option("-f,--file", o->text_path,
                  "prompt and decoded tokens from this text (decode teacher-forced) instead of random tokens and greedy picks; "
                  "a trained predictor's recall is then that of real text")
      ->check(CLI::ExistingFile);
  cmd->add_option("-r,--repeats", o->repeats, "repeats; the median is reported")->check(at_least(1))->capture_default_str();
  cmd->add_option("--bandwidth-mib", o->bandwidth_mib, "array size for the bandwidth measurement")->check(CLI::Range(16, 65536))->capture_default_str();
  cmd->callback([o] { bench_sweep(*o); });
}

}  // namespace actinfer::tools
