// The deployment configuration: the one type that says how a model runs (which runtime,
// where the gpu-worker computes, the hot/cold split, the CPU-worker teams, the predictor,
// CAF's scheduler, the context length). It is read from a config file
// (config/config_reader.h, the format is configs/README.md), then `--set` overrides, then
// explicit command-line flags, and validated once, here: unknown keys ("did you mean"),
// wrong types, ranges and cross-field rules are errors naming the file, line and key.
// The actor runtime (actors/actor_runtime.h) and the dense engine take it as it is.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config_error.h"
#include "config/modes.h"
#include "engine/dense_engine.h"

namespace actinfer {

// Where a setting's value came from: the built-in default, a config file's line, a `--set`
// override or an explicit flag. `where` names it for messages: "configs/default.conf:71",
// "--set actinfer.ctx=4096", "-c 4096"; empty for the default.
struct SettingOrigin {
  enum class Kind { built_in, file, override, flag };
  Kind kind = Kind::built_in;
  std::string where;
};

struct TeamConfig {
  int numa_node = 0;     // logical NUMA node index in the topology
  std::vector<int> pus;  // key `cores`: PU os indexes to pin to; empty = the node's (unpinned on one node)
  int threads = 0;       // 0 = one per PU of `pus`, or of the node
};

struct DeploymentConfig {
  Runtime runtime = Runtime::actors;
  BackendKind backend = BackendKind::host;  // where the gpu-worker computes
  std::string topology = "real";    // real | synthetic:<hwloc synthetic string> | xml:<path>
  int gpu_device = 0;               // cuda: the CUDA device
  uint64_t vram_budget = 0;         // bytes the gpu-worker may hold (host: emulated); 0 = no limit
  // n_threads: key host-threads and -t (the dense engine's and the host gpu-worker's threads,
  // 0 = all cores); n_ctx: key ctx and -c; cache_type: key cache-type and --cache-type;
  // max_batch: -b (prompt tokens per step).
  EngineOptions engine;
  SettingOrigin ctx_origin;         // where engine.n_ctx came from (refusals above the trained length name it)
  // key mmap and --no-mmap: true maps the model file (pages shared with the page cache, loaded on
  // first touch); false reads it into transparent huge pages (fewer TLB misses in the prompt's
  // matmuls, a full read at start, the file's size in memory that the kernel cannot reclaim).
  bool mmap = true;
  std::vector<int> host_pus;        // key host-cores: pinning of the host gpu-worker (empty: host-pinning decides)
  HostPinning host_pinning = HostPinning::automatic;  // key host-pinning (config/host_pinning.h)
  double hot_fraction = 1.0;        // the first hot_fraction of each layer's neurons are hot
  std::string placement;            // placement file (hot neurons per layer); overrides hot_fraction
  PredictorMode predictor = PredictorMode::automatic;
  bool sparse = false;              // sparse kernels on neuron bundles, per-token active lists
  // With sparse kernels: forward steps of more than this many tokens compute the FFN with the
  // dense (tiled GEMM) kernels, masked by the batch's union of active neurons, since that union
  // nears all neurons as the batch grows (measured crossover: configs/README.md). The cuda
  // backend holds only bundles and stays sparse.
  int sparse_dense_crossover = 16;
  std::string profile;              // profile file: per-layer thresholds (threshold predictor)
  std::string predictors;           // trained predictor file (actinfer train-predictor)
  bool check_recall = false;        // trained: also compute the true sets (recall in stats())
  int predictor_threads = 1;        // the predictor's pool (0 = as many as engine.n_threads)
  std::vector<TeamConfig> teams = {TeamConfig{}};  // CPU-worker teams; default: one on NUMA node 0
  int batch = 1;                    // sequence slots decoded together (serve; configs/default.conf: 4)
  std::string trace;                // Chrome trace path; non-empty: the actor runtime records spans
  SchedulerPolicy scheduler_policy = SchedulerPolicy::stealing;
  int scheduler_threads = 1;        // CAF scheduler.max-threads
  std::string source;               // where it came from, for messages

  bool tracing() const { return !trace.empty(); }
};

// An explicit command-line flag, as the config key it sets: applied after the file and the
// `--set` overrides, so that it wins over both.
struct FlagSetting {
  std::string flag;   // as typed, for messages: "-c"
  std::string key;    // "actinfer.ctx"
  std::string value;  // "64"
};

// Parses config text (the format of configs/README.md); then `overrides`, "key=value" strings
// ("actinfer.backend=cuda", "actinfer.team.1.threads=4", "scheduler.max-threads=4"), later
// ones winning; then `flags`. Throws ConfigError naming the source, line and key.
DeploymentConfig parse_deployment_config(std::string_view text, const std::string& source_name,
                                         const std::vector<std::string>& overrides = {},
                                         const std::vector<FlagSetting>& flags = {});
// The same for a file (config/config_reader.h: regular files up to 1 MiB).
DeploymentConfig load_deployment_config(const std::filesystem::path& file,
                                        const std::vector<std::string>& overrides = {},
                                        const std::vector<FlagSetting>& flags = {});

// Where the config is looked for when no --config is given, in this order:
// $ACTINFER_CONFIG (must exist), $XDG_CONFIG_HOME/actinfer/actinfer.conf (or
// ~/.config/actinfer/actinfer.conf), then the project's configs/default.conf. nullopt: none
// found, the built-in defaults apply.
struct ConfigSearch {
  std::string env_config;  // $ACTINFER_CONFIG
  std::string xdg_config_home;
  std::string home;
  std::filesystem::path project_default;  // <source dir>/configs/default.conf
  static ConfigSearch from_environment(std::filesystem::path project_default);
};
std::optional<std::filesystem::path> find_config(const ConfigSearch& search);

// "8GiB", "8 GiB", "8 GB", "512MiB", "1.5G", "1024", "0". Units are
// case-insensitive: B; KiB/MiB/GiB/TiB and K/M/G/T are powers of 1024;
// KB/MB/GB/TB are powers of 1000. Fractions round down to whole bytes.
// Throws ConfigError quoting the text (negative, unparsable, unknown unit, overflow).
uint64_t parse_byte_size(std::string_view text);

// "24 GiB", "512 MiB", "1000 B": the largest binary unit that divides exactly.
std::string format_byte_size(uint64_t bytes);

// A readable multi-line dump of the values in use (`-v`).
std::string describe(const DeploymentConfig& config);

}  // namespace actinfer
