// `actinfer train-predictor`: records, over a calibration text, each FFN layer's
// normalised input and the neurons that fire (engine/predictor_recording.h), trains one
// low-rank predictor per layer on it (engine/predictor_training.h) and writes them as a
// GGUF side file (model/predictor_file.h) for the runtime's predictor.
//
// Ranks: --rank R for every layer; --budget-mib M for M MiB in all, shared between the
// layers by how hard their firing is to predict (ranks_for_budget: the entropy of the
// recorded firing fraction); by default each layer gets about 5% of its FFN weight
// bytes (the predictor is read every token, so it must stay small beside the ~10% of
// the FFN a sparse token reads).
// Non-ReLU models fire when |a| > a per-layer threshold: from --profile (the thresholds
// `actinfer profile` calibrated) or calibrated here to --sparsity.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "engine/neuron_predictor.h"
#include "engine/predictor_recording.h"
#include "engine/predictor_training.h"
#include "engine/profiler.h"
#include "engine/thread_pool.h"
#include "model/predictor_file.h"
#include "model/profile_file.h"
#include "model/tokenizer.h"
#include "tools/bench_timing.h"
#include "tools/cli_support.h"
#include "tools/commands.h"
#include "tools/model_options.h"
#include "tools/progress_bar.h"
#include "tools/text_input.h"

namespace actinfer::tools {
namespace {

struct TrainPredictorCliOptions {
  ModelOptions model;
  std::string text_path, out_path, profile_path;
  int rank = 0;            // 0: from the budget or the default share
  double budget_mib = 0;   // 0: not given
  int epochs = 8;
  long long tokens = 8192;
  double sparsity = 0.5;
  double recall = 0.95;
  float learning_rate = PredictorTrainOptions{}.learning_rate;
  uint64_t seed = 1;
};

// About 5% of the layer's FFN weight bytes, as a multiple of 32 (at least 32).
int default_rank(const ModelWeights& w, int layer) {
  const ModelConfig& c = w.config();
  const FfnWeights f = FfnWeights::of_layer(w, layer);
  const double target = 0.05 * static_cast<double>(f.gate.bytes() + f.up.bytes() + f.down.bytes());
  int rank = 32;
  while (rank + 32 <= (c.d_model + 31) / 32 * 32 && static_cast<double>(predictor_layer_bytes(c.d_model, c.d_ff, rank + 32)) <= target)
    rank += 32;
  return rank;
}

std::vector<int> choose_ranks(const TrainPredictorCliOptions& o, const ModelWeights& w) {
  const ModelConfig& c = w.config();
  const int max_rank = (c.d_model + 31) / 32 * 32;
  if (o.rank != 0) {
    if (o.rank < 0 || o.rank % 32 != 0)
      throw std::invalid_argument("--rank must be a positive multiple of 32 (Q8_0 rows), got " + std::to_string(o.rank));
    if (o.rank > max_rank)
      throw std::invalid_argument("--rank " + std::to_string(o.rank) + " exceeds the model's width " + std::to_string(c.d_model) +
                                  " (a low-rank predictor needs rank <= d_model)");
    return std::vector<int>(static_cast<size_t>(c.n_layers), o.rank);
  }
  if (o.budget_mib > 0) {
    const uint64_t budget = static_cast<uint64_t>(o.budget_mib * 1024 * 1024);
    const int r = rank_for_budget(c.n_layers, c.d_model, c.d_ff, budget);
    if (r == 0) {
      char msg[256];
      std::snprintf(msg, sizeof msg, "--budget-mib %g is too small: %d layers at the smallest rank (32) need %.3f MiB", o.budget_mib,
                    c.n_layers, static_cast<double>(c.n_layers * predictor_layer_bytes(c.d_model, c.d_ff, 32)) / (1 << 20));
      throw std::invalid_argument(msg);
    }
    return {};  // shared by difficulty once the firings are recorded (ranks_for_budget)
  }
  std::vector<int> ranks;
  for (int l = 0; l < c.n_layers; ++l) ranks.push_back(default_rank(w, l));
  return ranks;
}

void check_options(const TrainPredictorCliOptions& o) {
  if (!(o.recall > 0 && o.recall <= 1)) throw std::invalid_argument("--recall must be in (0, 1], got " + std::to_string(o.recall));
  if (!(o.sparsity >= 0 && o.sparsity < 1)) throw std::invalid_argument("--sparsity must be in [0, 1), got " + std::to_string(o.sparsity));
  if (o.budget_mib < 0) throw std::invalid_argument("--budget-mib must be positive");
}

// Mean microseconds of predict() for one token over every layer (single thread).
double time_predict(const NeuronPredictors& p, const ActivationRecording& rec) {
  const int n_layers = p.n_layers();
  const int64_t n = std::min<int64_t>(64, rec.layers[0].size());
  std::vector<std::vector<float>> x(static_cast<size_t>(n_layers));
  for (int l = 0; l < n_layers; ++l) {
    const LayerSamples& s = rec.layers[static_cast<size_t>(l)];
    x[static_cast<size_t>(l)].resize(static_cast<size_t>(n * s.d_model()));
    for (int64_t t = 0; t < n; ++t) s.input(s.size() - n + t, x[static_cast<size_t>(l)].data() + t * s.d_model());
  }
  PredictorScratch scratch;
  std::vector<int32_t> active;
  auto pass = [&] {
    for (int64_t t = 0; t < n; ++t)
      for (int l = 0; l < n_layers; ++l) p.predict(l, x[static_cast<size_t>(l)].data() + t * p.d_model(), active, scratch);
  };
  pass();  // warm: scratch grown, weights in cache as far as they fit
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    pass();
    best = std::min(best, seconds_since(t0));
  }
  return best / static_cast<double>(n) * 1e6;
}

void run_train_predictor(const TrainPredictorCliOptions& o) {
  check_options(o);
  const std::string text = read_text_file(o.text_path, "tools/make_calibration_text.sh writes the calibration text");
  auto weights = o.model.load_weights();
  const ModelConfig& c = weights->config();
  if (c.d_model % 32 != 0)
    throw std::invalid_argument("predictors need the model width to be a multiple of 32 (Q8_0 rows), this model has " + std::to_string(c.d_model));
  std::vector<int> ranks = choose_ranks(o, *weights);
  const bool relu = c.activation == Activation::ReLU;
  std::error_code ec;
  if (!o.profile_path.empty() && !std::filesystem::is_regular_file(o.profile_path, ec))
    throw std::runtime_error("profile file '" + o.profile_path + "' not found (`actinfer profile` writes one)");
  std::vector<float> thresholds;
  // Loaded for ReLU models too, so that a profile of another model is refused.
  if (!o.profile_path.empty()) thresholds = load_profile(o.profile_path, c).thresholds;

  const Tokenizer tokenizer(tokenizer_data_from_gguf(weights->file()));
  std::vector<int32_t> tokens = tokenize_document(tokenizer, text);
  const size_t n_text = tokens.size();
  if (tokens.size() > static_cast<size_t>(o.tokens)) tokens.resize(static_cast<size_t>(o.tokens));

  ProfileOptions po;
  po.n_ctx = std::min(o.model.n_ctx, c.n_ctx_train);
  po.n_threads = o.model.threads;
  po.max_batch = o.model.batch;
  po.target_sparsity = o.sparsity;
  po.add_bos = tokenizer.add_bos();
  po.bos = tokenizer.bos();
  const double mib_recorded = static_cast<double>(tokens.size()) * c.n_layers * (c.d_model * 2.0 + (c.d_ff + 63) / 64 * 8.0) / (1 << 20);
  std::string rule = relu ? "fires when a > 0" : !o.profile_path.empty() ? "|a| thresholds from " + o.profile_path : "";
  if (rule.empty()) {
    char r[96];
    std::snprintf(r, sizeof r, "|a| thresholds calibrated to sparsity %g (one more pass)", o.sparsity);
    rule = r;
  }
  std::fprintf(stderr, "[actinfer] %s: %zu tokens, recording %zu (%.0f MiB); activation %s, %s\n", o.text_path.c_str(), n_text,
               tokens.size(), mib_recorded, std::string(activation_name(c.activation)).c_str(), rule.c_str());

  const auto t_rec = std::chrono::steady_clock::now();
  if (!relu && thresholds.empty()) {
    ProgressBar bar(o.model.quiet);
    thresholds = calibrate_thresholds(*weights, tokens, po, [&](int ch, int n) {
      bar.update(ch, n, "calibrating thresholds, chunk " + std::to_string(ch) + "/" + std::to_string(n));
    });
  }
  ActivationRecording rec;
  {
    ProgressBar bar(o.model.quiet);
    rec = record_activations(*weights, tokens, thresholds, po, [&](int ch, int n) {
      bar.update(ch, n, "recording chunk " + std::to_string(ch) + "/" + std::to_string(n));
    });
  }
  const double rec_secs = seconds_since(t_rec);
  if (ranks.empty()) {  // --budget-mib: share it by how hard each layer's firing is to predict
    std::vector<double> difficulty;
    for (const LayerSamples& L : rec.layers)
      difficulty.push_back(firing_entropy(static_cast<double>(L.count_fired(0, L.size())) / (static_cast<double>(L.size()) * c.d_ff)));
    ranks = ranks_for_budget(difficulty, c.d_model, c.d_ff, static_cast<uint64_t>(o.budget_mib * 1024 * 1024));
  }

  const auto t_train = std::chrono::steady_clock::now();
  ThreadPool pool(default_thread_count(o.model.threads));
  std::vector<PredictorLayer> layers;
  std::vector<PredictorLayerInfo> info;
  std::vector<PredictorTrainReport> reports;
  {
    ProgressBar bar(o.model.quiet);
    for (int l = 0; l < c.n_layers; ++l) {
      PredictorTrainOptions to;
      to.rank = ranks[static_cast<size_t>(l)];
      to.epochs = o.epochs;
      to.learning_rate = o.learning_rate;
      to.target_recall = o.recall;
      to.seed = o.seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(l + 1);
      TrainedPredictor tp = train_predictor(pool, rec.layers[static_cast<size_t>(l)], to, [&](int e, int ne, int64_t s, int64_t ns) {
        const double done = l + (e + static_cast<double>(s + 1) / static_cast<double>(ns)) / ne;
        bar.update(done, c.n_layers, "training layer " + std::to_string(l + 1) + "/" + std::to_string(c.n_layers) + " epoch " +
                                         std::to_string(e + 1) + "/" + std::to_string(ne));
      });
      const PredictorTrainReport& r = tp.report;
      info.push_back({rec.thresholds[static_cast<size_t>(l)], static_cast<float>(r.test.recall()), static_cast<float>(r.test.precision()),
                      static_cast<float>(r.test.predicted_active(c.d_ff)), static_cast<float>(r.test.true_active(c.d_ff))});
      layers.push_back(std::move(tp.layer));
      reports.push_back(r);
    }
  }
  const double train_secs = seconds_since(t_train);
  const NeuronPredictors predictors(c, std::move(layers), std::move(info), o.recall);
  predictors.save(o.out_path);
  const double predict_us = time_predict(predictors, rec);

  const PredictorTrainReport& r0 = reports.front();
  std::printf("held-out: the last %lld of %lld tokens per layer (%lld trained on, %lld chose the thresholds for recall %.3g)\n",
              static_cast<long long>(r0.n_test), static_cast<long long>(rec.layers[0].size()), static_cast<long long>(r0.n_train),
              static_cast<long long>(r0.n_calibration), o.recall);
  std::printf("layer  rank      KiB  recall  precision  predicted  true-active   loss            time\n");
  double sum_recall = 0, sum_precision = 0, sum_pred = 0, sum_true = 0, min_recall = 1;
  int min_rank = ranks[0], max_rank = ranks[0];
  for (int l = 0; l < c.n_layers; ++l) {
    const PredictorTrainReport& r = reports[static_cast<size_t>(l)];
    const PredictorLayerInfo& i = predictors.info(l);
    std::printf("%5d  %4d  %7.1f  %6.4f  %9.4f  %9.4f  %11.4f   %.3f->%.3f  %6.1fs\n", l, predictors.rank(l),
                static_cast<double>(predictors.layer_bytes(l)) / 1024, i.recall, i.precision, i.predicted_active, i.true_active,
                r.first_loss, r.last_loss, r.seconds);
    sum_recall += i.recall;
    sum_precision += i.precision;
    sum_pred += i.predicted_active;
    sum_true += i.true_active;
    min_recall = std::min<double>(min_recall, i.recall);
    min_rank = std::min(min_rank, predictors.rank(l));
    max_rank = std::max(max_rank, predictors.rank(l));
  }
  const double L = c.n_layers;
  std::printf("predictors: %d layers, %s, rank %d..%d, %.2f MiB (%.1f KiB per layer), held-out recall %.4f (min %.4f), precision %.4f, "
              "active fraction %.4f predicted vs %.4f true; recording %.1f s, training %.1f s; predict %.1f us/token (all layers, 1 thread); "
              "wrote %s\n",
              c.n_layers, std::string(activation_name(c.activation)).c_str(), min_rank, max_rank, static_cast<double>(predictors.bytes()) / (1 << 20),
              static_cast<double>(predictors.bytes()) / 1024 / L, sum_recall / L, min_recall, sum_precision / L, sum_pred / L, sum_true / L,
              rec_secs, train_secs, predict_us, o.out_path.c_str());
  std::fflush(stdout);
}

}  // namespace

void register_train_predictor(CLI::App& app) {
  auto o = std::make_shared<TrainPredictorCliOptions>();
  CLI::App* cmd = app.add_subcommand("train-predictor", "train per-layer low-rank predictors of the FFN neurons that fire, written as a GGUF side file");
  o->model.n_ctx = 512;  // the chunk length: --ctx
  o->model.add_to(*cmd);
  cmd->add_option("-f,--file", o->text_path, "calibration text (tools/make_calibration_text.sh writes the standard one)")->required();
  cmd->add_option("-o,--output", o->out_path, "predictor file to write (GGUF)")->required();
  auto* rank = cmd->add_option("--rank", o->rank, "rank of every layer's predictor (a multiple of 32; default: ~5% of the layer's FFN bytes)");
  auto* budget = cmd->add_option("--budget-mib", o->budget_mib,
                                 "total predictor size in MiB, shared between layers by how hard their firing is to predict (entropy)");
  rank->excludes(budget);
  cmd->add_option("--epochs", o->epochs, "training epochs per layer")->check(at_least(1))->capture_default_str();
  cmd->add_option("--tokens", o->tokens, "record at most this many tokens of the text (memory: n_layers x d_model x 2 bytes each)")
      ->check(CLI::Range(1LL, 1LL << 40))
      ->capture_default_str();
  auto* profile = cmd->add_option("--profile", o->profile_path, "non-ReLU models: the firing thresholds of this profile (`actinfer profile`)");
  auto* sparsity = cmd->add_option("--sparsity", o->sparsity, "non-ReLU models without --profile: calibrate thresholds to this sparsity")
                       ->capture_default_str();
  profile->excludes(sparsity);
  cmd->add_option("--recall", o->recall, "target recall: the thresholds keep this fraction of the firings of the calibration tokens")
      ->capture_default_str();
  cmd->add_option("--lr", o->learning_rate, "Adam learning rate (cosine decay to 5% of it)")->check(positive_real())->capture_default_str();
  cmd->add_option("--seed", o->seed, "training seed (same seed, same predictors)")->capture_default_str();
  cmd->callback([o] { run_train_predictor(*o); });
}

}  // namespace actinfer::tools
