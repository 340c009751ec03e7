// Deployment configuration: where each actor of the pipeline runs (GPU or host
// gpu-worker, CPU-worker teams per NUMA node, scheduler policy), read from a
// file in CAF's config format (caf-application.ini style) plus "key=value"
// overrides from the command line. See configs/README.md for every key.
//
// The file is parsed with CAF 0.17's own parser (caf::detail::parser::read_ini),
// so the same file can also be handed to caf::actor_system_config::parse for
// its [scheduler] section. Unlike CAF, this loader rejects unknown keys,
// unknown sections and wrong-typed values (CAF silently ignores them), and
// checks ranges and cross-field rules (duplicate team nodes, gaps in team
// numbers, ...). This header deliberately includes no CAF header.
#pragma once
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace actinfer {

struct TeamConfig {
  int numa_node = 0;
  std::vector<int> cores;  // PU os indexes; empty = all of the node's
  int threads = 0;         // 0 = one per core
};

struct DeploymentConfig {
  std::string runtime = "actors";   // actors | dense
  std::string backend = "host";     // host | cuda
  std::string topology = "real";    // real | synthetic:<hwloc synthetic string> | xml:<path>
  int gpu_device = 0;
  uint64_t vram_budget_bytes = 0;   // 0 = no limit
  int host_threads = 0;             // threads of the host backend's gpu-worker (0 = all cores)
  std::vector<int> host_cores;      // pinning for the host backend (empty = unpinned)
  double hot_fraction = 1.0;        // first K of each layer's neurons are hot (0..1)
  std::string placement;            // placement file (overrides hot_fraction); empty = none
  std::string predictor = "auto";   // auto | oracle | all | threshold | trained (runtime_options.h)
  bool sparse = false;              // sparse FFN kernels on neuron bundles
  std::string profile;              // profile file: per-layer thresholds (threshold predictor)
  std::string predictors;           // trained predictor file (actinfer train-predictor)
  bool check_recall = false;        // also compute the true active sets, to measure recall
  int predictor_threads = 1;        // the predictor's threads (0 = as many as host-threads)
  std::vector<TeamConfig> teams;    // CPU-worker teams; default: one team on NUMA node 0
  int batch = 64;
  int ctx = 2048;
  std::string trace;                // Chrome trace output path; empty = off
  std::string scheduler_policy = "sharing";  // CAF scheduler.policy (sharing | stealing)
  int scheduler_max_threads = 1;             // CAF scheduler.max-threads (see configs/default.conf)
  std::string source;               // where it came from, for messages
};

// Every error of this module. what() is the full message, e.g.
//   "configs/x.conf:12: actinfer.team.1.threads: must be >= 0, got -2"
// source() is the file name / source name (or "override 'k=v'"), line() is
// 1-based (0 when no line applies), key() the dotted key ("" for syntax errors
// outside any key).
class ConfigError : public std::runtime_error {
 public:
  ConfigError(const std::string& message, std::string source = {}, int line = 0, std::string key = {})
      : std::runtime_error(message), source_(std::move(source)), line_(line), key_(std::move(key)) {}
  const std::string& source() const { return source_; }
  int line() const { return line_; }
  const std::string& key() const { return key_; }

 private:
  std::string source_;
  int line_ = 0;
  std::string key_;
};

// Parses a file in CAF's config format; `overrides` are "key=value" strings
// ("actinfer.backend=cuda", "actinfer.team.1.threads=4",
// "scheduler.max-threads=4") applied after the file, later ones winning.
// Throws ConfigError naming the file, line and key.
DeploymentConfig load_deployment_config(const std::filesystem::path& file,
                                        const std::vector<std::string>& overrides = {});
DeploymentConfig parse_deployment_config(std::string_view text, const std::string& source_name,
                                         const std::vector<std::string>& overrides = {});

// "8GiB", "8 GiB", "8 GB", "512MiB", "1.5G", "1024", "0". Units are
// case-insensitive: B; KiB/MiB/GiB/TiB and K/M/G/T are powers of 1024;
// KB/MB/GB/TB are powers of 1000. Fractions round down to whole bytes.
// Throws ConfigError quoting the text (negative, unparsable, unknown unit, overflow).
uint64_t parse_byte_size(std::string_view text);

// "24 GiB", "512 MiB", "1000 B": the largest binary unit that divides exactly.
std::string format_byte_size(uint64_t bytes);

// "0-3,8,10-11" (the cpulist form also accepted for cores in the config).
std::string format_cpu_list(const std::vector<int>& cpus);

// A readable multi-line dump (used by `actinfer run --verbose`).
std::string describe(const DeploymentConfig& config);

}  // namespace actinfer
