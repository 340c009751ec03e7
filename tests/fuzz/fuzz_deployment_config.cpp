// Fuzz target: the deployment config reader and parser (config/deployment_config.h) with `--set`
// expressions. The input is config text; the lines after a line "[--set]" are overrides,
// one `key=value` per line, as `--set` passes them.
#include <cstdint>
#include <string>
#include <vector>

#include "config/config_reader.h"
#include "config/cpu_list.h"
#include "config/deployment_config.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace actinfer;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto parts = fuzz::split_once(input, "\n[--set]\n");
  const std::string_view text = parts.first;  // a plain variable: clang 14 lambdas cannot capture bindings
  std::vector<std::string> overrides;
  for (std::string_view rest = parts.second; !rest.empty();) {
    const auto [line, next] = fuzz::split_once(rest, "\n");
    overrides.emplace_back(line);
    if (next.data() == nullptr) break;
    rest = next;
  }
  fuzz::expect_clean_rejection([&] {
    const auto config = parse_deployment_config(text, "fuzz.conf", overrides);
    (void)describe(config);
    (void)format_cpu_list(config.host_pus);
    (void)format_byte_size(config.vram_budget);
  });
  fuzz::expect_clean_rejection([&] { (void)read_config_text(input, "fuzz.conf"); });
  fuzz::expect_clean_rejection([&] { (void)parse_byte_size(input.substr(0, 64)); });
  return 0;
}
