// Fuzz target: the trace reader (`actinfer trace`): a Chrome trace JSON file read back,
// summarised and printed as table and JSON.
#include <cstdint>

#include "trace/chrome_trace.h"
#include "trace/trace_summary.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace actinfer;
  const auto path = fuzz::write_input(data, size, "trace");
  fuzz::expect_clean_rejection([&] {
    const auto buffers = trace::read_chrome_trace(path);
    const auto summary = trace::summarize(buffers);
    (void)trace::format_summary(summary);
    (void)trace::summary_json(summary);
  });
  return 0;
}
