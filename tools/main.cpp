// `actinfer`: one command, one subcommand per job (run, chat, bench, make-model, ...).
// Exit codes (tools/cli_support.h): 0 ok, 1 runtime error, 2 usage error,
// 128 + signal when interrupted (130 for Ctrl-C).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include "tools/cli_support.h"
#include "tools/commands.h"
#include "tools/interrupt.h"
#include "tools/version.h"

namespace {

std::string known_subcommands(const CLI::App& app) {
  std::string names;
  for (const CLI::App* sub : app.get_subcommands({})) names += (names.empty() ? "" : ", ") + sub->get_name();
  return names;
}

bool is_subcommand(const CLI::App& app, const std::string& name) {
  for (const CLI::App* sub : app.get_subcommands({})) if (sub->get_name() == name) return true;
  return false;
}

int usage_error(const std::string& message) {
  std::fflush(stdout);
  std::fprintf(stderr, "actinfer: error: %s\n", message.c_str());
  return actinfer::tools::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace actinfer::tools;
  CLI::App app{"actinfer: sparse LLM inference on CPU + GPU actors"};
  app.set_version_flag("--version", version_text());
  app.require_subcommand(1);
  // Every error reads "actinfer: error: ..." (CLI11's own as well), with where to look next.
  app.failure_message([](const CLI::App* failed, const CLI::Error& e) {
    const std::string where = failed && failed->get_parent() ? "actinfer " + failed->get_name() : std::string("actinfer");
    return "actinfer: error: " + std::string(e.what()) + " (" + where + " --help lists the options)\n";
  });
  register_run(app);
  register_chat(app);
  register_bench(app);
  register_make_model(app);
  register_trace(app);
  register_perplexity(app);
  register_profile(app);
  register_plan(app);
  register_bench_sparse(app);
  register_bench_gemv(app);
  register_bench_matmul(app);
  register_bench_lane_rows(app);
  register_train_predictor(app);
  register_serve(app);
  register_quantize(app);
  // Name what is wrong rather than CLI11's "A subcommand is required".
  if (argc > 1) {
    const std::string first = argv[1];
    if (first[0] != '-' && !is_subcommand(app, first))
      return usage_error("unknown subcommand '" + first + "' (known: " + known_subcommands(app) + ")");
    if (first[0] == '-' && first != "-h" && first != "--help" && first != "--version")
      return usage_error("unknown option '" + first + "' (give a subcommand first: " + known_subcommands(app) + "; --help lists them)");
  }
  interrupt::install();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints the message (or the help / version text)
    return rc == 0 ? 0 : kExitUsage;
  } catch (const interrupt::Interrupted&) {
    std::fflush(stdout);
    std::fprintf(stderr, "[actinfer] stopped by signal %d\n", interrupt::signal_number());
    return 128 + interrupt::signal_number();
  } catch (const UsageError& e) {
    return usage_error(e.what());
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "actinfer: error: %s\n", e.what());
    return interrupt::requested() ? 128 + interrupt::signal_number() : kExitRuntimeError;
  }
  // A command that stopped early on a signal (run prints its stats first) still says so.
  if (interrupt::requested()) return 128 + interrupt::signal_number();
  return 0;
}
