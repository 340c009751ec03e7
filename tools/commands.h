// Each `actinfer` subcommand registers itself on the top-level CLI app.
#pragma once
namespace CLI { class App; }

namespace actinfer::tools {
void register_run(CLI::App& app);
void register_chat(CLI::App& app);
void register_bench(CLI::App& app);
void register_make_model(CLI::App& app);
void register_trace(CLI::App& app);
void register_perplexity(CLI::App& app);
void register_profile(CLI::App& app);
void register_plan(CLI::App& app);
void register_bench_sparse(CLI::App& app);
void register_train_predictor(CLI::App& app);
void register_bench_gemv(CLI::App& app);
void register_bench_matmul(CLI::App& app);
void register_bench_lane_rows(CLI::App& app);
void register_serve(CLI::App& app);
void register_quantize(CLI::App& app);
}  // namespace actinfer::tools
