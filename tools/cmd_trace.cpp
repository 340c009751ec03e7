// `actinfer trace FILE`: summarizes a trace written by the runtime (Chrome
// trace-event JSON, also viewable in ui.perfetto.dev): per-actor busy time, hot/cold
// FFN overlap, messages per token, per-layer critical path.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "tools/commands.h"
#include "trace/trace_summary.h"

namespace actinfer::tools {

namespace {

struct TraceOptions {
  std::string file;
  bool json = false;
};

void run_trace(const TraceOptions& o) {
  const trace::TraceSummary s = trace::summarize(std::filesystem::path(o.file));
  const std::string text = o.json ? trace::summary_json(s) + "\n" : trace::format_summary(s);
  std::fputs(text.c_str(), stdout);
}

}  // namespace

void register_trace(CLI::App& app) {
  auto o = std::make_shared<TraceOptions>();
  CLI::App* sub = app.add_subcommand(
      "trace", "Summarize a trace file (Chrome trace-event JSON written by the runtime; open it in ui.perfetto.dev "
               "for the timeline)");
  sub->add_option("file", o->file, "Trace JSON file")->required();
  sub->add_flag("--json", o->json, "Print the summary as JSON");
  sub->callback([o] { run_trace(*o); });
}

}  // namespace actinfer::tools
