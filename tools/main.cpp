// `actinfer`: one command, one subcommand per job (run, bench, make-model, ...).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"actinfer: sparse LLM inference on CPU + GPU actors"};
  app.require_subcommand(1);
  actinfer::tools::register_run(app);
  actinfer::tools::register_bench(app);
  actinfer::tools::register_make_model(app);
  actinfer::tools::register_trace(app);
  actinfer::tools::register_perplexity(app);
  actinfer::tools::register_profile(app);
  actinfer::tools::register_plan(app);
  actinfer::tools::register_bench_sparse(app);
  actinfer::tools::register_train_predictor(app);
  actinfer::tools::register_serve(app);
  actinfer::tools::register_quantize(app);
  try {
    // Name an unknown subcommand rather than CLI11's "A subcommand is required".
    auto known = [&](const std::string& name) {
      for (const CLI::App* sub : app.get_subcommands({})) if (sub->get_name() == name) return true;
      return false;
    };
    if (argc > 1 && argv[1][0] != '-' && !known(argv[1]))
      throw std::invalid_argument(std::string("unknown subcommand '") + argv[1] + "' (known: run, bench, make-model, trace, perplexity, profile, plan, bench-sparse, train-predictor, serve, quantize)");
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "actinfer: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
