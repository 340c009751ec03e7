// Deployment-config loader: shipped configs, overrides, every error case,
// byte sizes. The shipped configs are also fed to CAF's own
// actor_system_config::parse, which must accept them and see the scheduler keys.
#include <doctest/doctest.h>

#include "config/config_reader.h"
#include "config/cpu_list.h"
#include "config/deployment_config.h"
#include "config/machine_fit.h"
#include "topology/topology.h"
#include "tests/text_contains.h"

#include <caf/actor_system_config.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>

using namespace actinfer;
using actinfer::testing::contains;

namespace {

const std::filesystem::path kConfigs = std::filesystem::path(ACTINFER_SOURCE_DIR) / "configs";

std::optional<ConfigError> error_of(std::string_view text, const std::vector<std::string>& overrides = {}) {
  try {
    parse_deployment_config(text, "test.conf", overrides);
  } catch (const ConfigError& e) {
    return e;
  }
  return std::nullopt;
}

// A file error: names the file and line ("test.conf:<line>"), the key, and says `what`.
void check_file_error(std::string_view text, int line, const std::string& key, std::string_view what) {
  auto e = error_of(text);
  INFO("config:\n" << text);
  REQUIRE(e.has_value());
  std::string msg = e->what();
  INFO("message: " << msg);
  CHECK(e->source() == "test.conf");
  CHECK(e->line() == line);
  CHECK(e->key() == key);
  CHECK(contains(msg, "test.conf:" + std::to_string(line) + ":"));
  CHECK(contains(msg, key));
  CHECK(contains(msg, what));
}

void check_override_error(std::string_view text, const std::string& override_text, const std::string& key,
                          std::string_view what) {
  auto e = error_of(text, {override_text});
  INFO("override: " << override_text);
  REQUIRE(e.has_value());
  std::string msg = e->what();
  INFO("message: " << msg);
  CHECK(e->key() == key);
  CHECK(e->line() == 0);
  CHECK(contains(msg, "override '" + override_text + "'"));
  CHECK(contains(msg, key));
  CHECK(contains(msg, what));
}

}  // namespace

TEST_CASE("deployment config: default.conf describes this 1-node, 2-core machine") {
  DeploymentConfig c = load_deployment_config(kConfigs / "default.conf");
  CHECK(c.runtime == Runtime::actors);
  CHECK(c.backend == BackendKind::host);
  CHECK(c.topology == "real");
  CHECK(c.vram_budget == 0);
  CHECK(c.engine.n_threads == 2);
  CHECK(c.host_pus.empty());
  CHECK(c.hot_fraction == 1.0);
  CHECK(c.placement.empty());
  CHECK(c.predictor == PredictorMode::automatic);
  CHECK_FALSE(c.sparse);
  REQUIRE(c.teams.size() == 1);
  CHECK(c.teams[0].numa_node == 0);
  CHECK(c.teams[0].pus.empty());
  CHECK(c.teams[0].threads == 0);
  CHECK(c.batch == 4);  // configs/default.conf; the built-in default is 1
  CHECK(c.engine.n_ctx == 2048);
  CHECK(c.ctx_origin.kind == SettingOrigin::Kind::built_in);  // left to the default: no refusal for models trained on less
  CHECK(c.engine.cache_type == KvCacheType::F16);
  CHECK(c.trace.empty());
  CHECK(c.scheduler_policy == SchedulerPolicy::stealing);
  CHECK(c.scheduler_threads == 1);
  CHECK(contains(c.source, "default.conf"));
}

TEST_CASE("deployment config: two-socket-workstation.conf") {
  DeploymentConfig c = load_deployment_config(kConfigs / "two-socket-workstation.conf");
  CHECK(c.backend == BackendKind::cuda);
  CHECK(c.gpu_device == 0);
  CHECK(c.vram_budget == 24ull << 30);
  CHECK(c.hot_fraction > 0.0);
  CHECK(c.hot_fraction < 1.0);
  REQUIRE(c.teams.size() == 2);
  CHECK(c.teams[0].numa_node == 0);
  CHECK(c.teams[1].numa_node == 1);
  CHECK(c.teams[0].pus.size() == 15);
  CHECK(c.teams[0].pus.front() == 1);
  CHECK(c.teams[1].pus.size() == 16);
  CHECK(c.teams[1].pus.front() == 16);
  CHECK(c.teams[1].pus.back() == 31);
  CHECK(c.scheduler_policy == SchedulerPolicy::sharing);
  CHECK(c.scheduler_threads == 4);
}

TEST_CASE("deployment config: cuda-workstation.conf selects the cuda backend") {
  DeploymentConfig c = load_deployment_config(kConfigs / "cuda-workstation.conf");
  CHECK(c.backend == BackendKind::cuda);
  CHECK(c.gpu_device == 0);
  CHECK(c.vram_budget == 20ull << 30);
  CHECK(c.sparse);
  CHECK(c.predictor == PredictorMode::automatic);
  REQUIRE(c.teams.size() == 1);
  CHECK(c.teams[0].pus.size() == 15);
  CHECK(c.scheduler_threads == 2);
}

TEST_CASE("deployment config: test-two-teams.conf (synthetic two-node topology)") {
  DeploymentConfig c = load_deployment_config(kConfigs / "test-two-teams.conf");
  CHECK(c.topology == "synthetic:pack:2 numa:1 core:4 pu:1");
  CHECK(c.backend == BackendKind::host);
  CHECK(c.hot_fraction == doctest::Approx(0.3));
  REQUIRE(c.teams.size() == 2);
  CHECK(c.teams[0].numa_node == 0);
  CHECK(c.teams[0].pus == std::vector<int>{0, 1, 2, 3});
  CHECK(c.teams[1].numa_node == 1);
  CHECK(c.teams[1].pus == std::vector<int>{4, 5, 6, 7});
  CHECK(c.scheduler_policy == SchedulerPolicy::sharing);
}

TEST_CASE("deployment config: CAF's own parser accepts every shipped config and reads [scheduler]") {
  for (const char* name : {"default.conf", "two-socket-workstation.conf", "cuda-workstation.conf", "test-two-teams.conf"}) {
    CAPTURE(name);
    DeploymentConfig ours = load_deployment_config(kConfigs / name);
    std::ifstream in(kConfigs / name);
    REQUIRE(in);
    caf::actor_system_config cfg;
    caf::error err = cfg.parse(caf::actor_system_config::string_list{}, in);
    CHECK_MESSAGE(!err, cfg.render(err));
    auto policy = caf::get_if<caf::atom_value>(&cfg.content, "scheduler.policy");
    REQUIRE(static_cast<bool>(policy));
    CHECK(caf::to_string(*policy) == to_string(ours.scheduler_policy));
    auto threads = caf::get_if<int64_t>(&cfg.content, "scheduler.max-threads");
    REQUIRE(static_cast<bool>(threads));
    CHECK(*threads == ours.scheduler_threads);
  }
}

TEST_CASE("deployment config: the example in configs/README.md parses") {
  std::ifstream in(kConfigs / "README.md");
  REQUIRE(in);
  std::stringstream buf;
  buf << in.rdbuf();
  std::string md = buf.str();
  auto begin = md.find("```ini\n");
  REQUIRE(begin != std::string::npos);
  begin += 7;
  auto end = md.find("```", begin);
  REQUIRE(end != std::string::npos);
  DeploymentConfig c = parse_deployment_config(md.substr(begin, end - begin), "README.md");
  CHECK(c.backend == BackendKind::cuda);
  CHECK(c.vram_budget == 24ull << 30);
  CHECK(c.host_pus == std::vector<int>{0, 1});
  REQUIRE(c.teams.size() == 1);
  CHECK(c.teams[0].pus.size() == 16);
  CHECK(c.scheduler_threads == 4);
}

TEST_CASE("deployment config: empty text gives the defaults, one team on node 0") {
  DeploymentConfig c = parse_deployment_config("", "empty");
  DeploymentConfig d;
  CHECK(c.runtime == d.runtime);
  CHECK(c.backend == d.backend);
  CHECK(c.hot_fraction == d.hot_fraction);
  CHECK(c.scheduler_policy == SchedulerPolicy::stealing);
  CHECK(c.scheduler_threads == 1);
  REQUIRE(c.teams.size() == 1);
  CHECK(c.teams[0].numa_node == 0);
  CHECK(c.teams[0].pus.empty());
  CHECK(c.source == "empty");
}

TEST_CASE("deployment config: the syntax of CAF's format: comments, maps, cpulists, atoms for choices") {
  DeploymentConfig c = parse_deployment_config(R"(
; leading comment
[actinfer]   ; comment after a header
backend = 'cuda'        ; an atom works for plain choices too
vram-budget = 1048576   ; an integer number of bytes
host-cores = [0, 1,     ; a list over two lines
              2]
hot-fraction = 0        ; an integer where a number is expected
team {
  0 { numa-node = 1, cores = "2-3,5" }
}
[actinfer.team.1]
numa-node = 0
)",
                                               "t");
  CHECK(c.backend == BackendKind::cuda);
  CHECK(c.vram_budget == 1048576);
  CHECK(c.host_pus == std::vector<int>{0, 1, 2});
  CHECK(c.hot_fraction == 0.0);
  REQUIRE(c.teams.size() == 2);
  CHECK(c.teams[0].numa_node == 1);
  CHECK(c.teams[0].pus == std::vector<int>{2, 3, 5});
  CHECK(c.teams[1].numa_node == 0);
}

TEST_CASE("deployment config: overrides win over the file, the last one wins") {
  DeploymentConfig c = load_deployment_config(kConfigs / "test-two-teams.conf",
                                              {"actinfer.backend=cuda", "actinfer.vram-budget=8GiB",
                                               "actinfer.hot-fraction=0.5", "actinfer.team.1.threads=4",
                                               "actinfer.team.0.cores=[0,1]", "actinfer.team.1.cores=4-5,7",
                                               "scheduler.policy=stealing", "scheduler.max-threads = 3",
                                               "actinfer.trace=\"/tmp/a b.json\"", "actinfer.batch=8",
                                               "actinfer.batch=16", "actinfer.host-cores="});
  CHECK(c.backend == BackendKind::cuda);
  CHECK(c.vram_budget == 8ull << 30);
  CHECK(c.hot_fraction == 0.5);
  REQUIRE(c.teams.size() == 2);
  CHECK(c.teams[0].threads == 1);  // from the file
  CHECK(c.teams[1].threads == 4);
  CHECK(c.teams[0].pus == std::vector<int>{0, 1});
  CHECK(c.teams[1].pus == std::vector<int>{4, 5, 7});
  CHECK(c.scheduler_policy == SchedulerPolicy::stealing);
  CHECK(c.scheduler_threads == 3);
  CHECK(c.trace == "/tmp/a b.json");
  CHECK(c.batch == 16);
  CHECK(c.host_pus.empty());
  CHECK(contains(c.source, "test-two-teams.conf"));
}

TEST_CASE("deployment config: an override can add a team") {
  DeploymentConfig c = load_deployment_config(kConfigs / "test-two-teams.conf",
                                              {"actinfer.team.2.numa-node=2", "actinfer.team.2.threads=1"});
  REQUIRE(c.teams.size() == 3);
  CHECK(c.teams[2].numa_node == 2);
  CHECK(c.teams[2].threads == 1);
  CHECK(c.teams[2].pus.empty());
}

TEST_CASE("deployment config: unknown keys and sections are errors (CAF would ignore them)") {
  check_file_error("[actinfer]\nbackend = \"host\"\nhot_fraction = 0.5\n", 3, "actinfer.hot_fraction",
                   "did you mean 'hot-fraction'");
  check_file_error("[actinfer]\nfrobnicate = 1\n", 2, "actinfer.frobnicate", "unknown key 'frobnicate'");
  check_file_error("[actinfer.team.0]\nnuma-node = 0\nthread = 2\n", 3, "actinfer.team.0.thread",
                   "did you mean 'threads'");
  check_file_error("[scheduler]\npolicy = 'sharing'\nmax-throughput = 300\n", 3, "scheduler.max-throughput",
                   "unknown key 'max-throughput' in [scheduler]");
  check_file_error("[actinfer]\nbatch = 1\n\n[middleman]\nport = 4242\n", 4, "middleman", "unknown section [middleman]");
  check_file_error("[schedular]\n", 1, "schedular", "unknown section [schedular]");
  check_file_error("batch = 1\n[actinfer]\n", 1, "batch", "outside any section");
  check_file_error("[actinfer]\nextra { x = 1 }\n", 2, "actinfer.extra", "unknown key 'extra' in [actinfer]");
  check_file_error("[actinfer]\nbatch { x = 1 }\n", 2, "actinfer.batch", "expected a value, not a section");
  check_file_error("[actinfer.team.0.core]\n", 1, "actinfer.team.0.core", "did you mean 'cores'");
  check_file_error("[actinfer.team]\nthreads = 1\n", 2, "actinfer.team.threads", "not a team number");
  check_file_error("[actinfer]\nteam = [1, 2]\n", 2, "actinfer.team", "[actinfer.team.0]");
  check_file_error("[actinfer.team.01]\nnuma-node = 0\n", 1, "actinfer.team.01", "not a team number");
}

TEST_CASE("deployment config: wrong types name the key and the value") {
  check_file_error("[actinfer]\nbatch = \"64\"\n", 2, "actinfer.batch", "expected an integer, got string \"64\"");
  check_file_error("[actinfer]\nbatch = 6.5\n", 2, "actinfer.batch", "expected an integer");
  check_file_error("[actinfer]\nhot-fraction = \"half\"\n", 2, "actinfer.hot-fraction", "expected a number");
  check_file_error("[actinfer]\nbackend = 1\n", 2, "actinfer.backend", "expected a string");
  check_file_error("[actinfer]\ntrace = 'x'\n", 2, "actinfer.trace", "expected a string");
  check_file_error("[actinfer]\nhost-cores = 3\n", 2, "actinfer.host-cores", "expected a list of core numbers");
  check_file_error("[actinfer]\nhost-cores = [0, \"1\"]\n", 2, "actinfer.host-cores", "not an integer");
  check_file_error("[actinfer]\nvram-budget = 1.5\n", 2, "actinfer.vram-budget", "expected a size");
  check_file_error("[actinfer]\nctx = 10ms\n", 2, "actinfer.ctx", "unexpected 'ms' after the value");
  // CAF reads scheduler.policy only as an atom and ignores a string silently.
  check_file_error("[scheduler]\npolicy = \"sharing\"\n", 2, "scheduler.policy", "single quotes");
  check_file_error("[scheduler]\nmax-threads = \"2\"\n", 2, "scheduler.max-threads", "expected an integer");
}

TEST_CASE("deployment config: out-of-range values") {
  check_file_error("[actinfer]\nvram-budget = \"-8GiB\"\n", 2, "actinfer.vram-budget", "negative");
  check_file_error("[actinfer]\nvram-budget = -1\n", 2, "actinfer.vram-budget", "negative");
  check_file_error("[actinfer]\nvram-budget = \"lots\"\n", 2, "actinfer.vram-budget", "invalid byte size 'lots'");
  check_file_error("[actinfer]\nhot-fraction = 1.5\n", 2, "actinfer.hot-fraction", "between 0 and 1");
  check_file_error("[actinfer]\nhot-fraction = -0.1\n", 2, "actinfer.hot-fraction", "between 0 and 1");
  check_file_error("[actinfer]\nhost-threads = -1\n", 2, "actinfer.host-threads", "got -1");
  check_file_error("[actinfer.team.0]\nnuma-node = 0\nthreads = -2\n", 3, "actinfer.team.0.threads", "got -2");
  check_file_error("[actinfer.team.0]\nnuma-node = -1\n", 2, "actinfer.team.0.numa-node", "got -1");
  check_file_error("[actinfer]\nbatch = 0\n", 2, "actinfer.batch", "got 0");
  check_file_error("[actinfer]\ngpu-device = -1\n", 2, "actinfer.gpu-device", "got -1");
  check_file_error("[scheduler]\nmax-threads = 0\n", 2, "scheduler.max-threads", "got 0");
  check_file_error("[actinfer]\nbackend = \"gpu\"\n", 2, "actinfer.backend", "unknown value 'gpu' (expected host or cuda)");
  check_file_error("[actinfer]\nruntime = \"sparse\"\n", 2, "actinfer.runtime", "expected actors or dense");
  check_file_error("[actinfer]\npredictor = \"mlp\"\n", 2, "actinfer.predictor", "expected auto, oracle, all, threshold or trained");
  check_file_error("[scheduler]\npolicy = 'fifo'\n", 2, "scheduler.policy", "expected sharing or stealing");
  check_file_error("[actinfer]\ntopology = \"numa\"\n", 2, "actinfer.topology", "unknown topology");
  check_file_error("[actinfer]\ntopology = \"synthetic:\"\n", 2, "actinfer.topology", "unknown topology");
  check_file_error("[actinfer]\nhost-cores = \"3-1\"\n", 2, "actinfer.host-cores", "runs backwards");
  check_file_error("[actinfer]\nhost-cores = [0, 1, 0]\n", 2, "actinfer.host-cores", "core 0 is listed twice");
}

TEST_CASE("deployment config: team rules") {
  // One team per NUMA node.
  check_file_error("[actinfer.team.0]\nnuma-node = 0\n\n[actinfer.team.1]\nnuma-node = 0\n", 5,
                   "actinfer.team.1.numa-node", "NUMA node 0 already has a team: actinfer.team.0 (test.conf:2)");
  // Numbers without gaps.
  check_file_error("[actinfer.team.0]\nnuma-node = 0\n[actinfer.team.2]\nnuma-node = 1\n", 3, "actinfer.team.2",
                   "actinfer.team.1 is missing");
  // numa-node is required.
  check_file_error("[actinfer.team.0]\nthreads = 2\n", 1, "actinfer.team.0.numa-node", "missing");
  // A core belongs to one team.
  check_file_error("[actinfer.team.0]\nnuma-node = 0\ncores = [0, 1]\n[actinfer.team.1]\nnuma-node = 1\ncores = \"1-3\"\n",
                   6, "actinfer.team.1.cores", "core 1 is already used by actinfer.team.0 (test.conf:3)");
  // A key set twice in the file.
  check_file_error("[actinfer]\nbatch = 1\nctx = 8\n[actinfer]\nbatch = 2\n", 5, "actinfer.batch",
                   "set twice (first at line 2)");
}

TEST_CASE("deployment config: malformed syntax is reported with line, column and key") {
  SUBCASE("'#' comment at the start of a line") {
    auto e = error_of("[actinfer]\nbatch = 1\n# a comment\n");
    REQUIRE(e);
    std::string msg = e->what();
    INFO(msg);
    CHECK(e->line() == 3);
    CHECK(contains(msg, "test.conf:3:1:"));
    CHECK(contains(msg, "'#'"));
    CHECK(contains(msg, "comments start with ';'"));
  }
  SUBCASE("'#' comment after a value") {
    auto e = error_of("[actinfer]\nbatch = 1  # sixty-four is too many\n");
    REQUIRE(e);
    INFO(e->what());
    CHECK(e->line() == 2);
    CHECK(e->key() == "actinfer.batch");
    CHECK(contains(e->what(), "test.conf:2:12:"));
    CHECK(contains(e->what(), "comments start with ';'"));
  }
  SUBCASE("unquoted string") {
    auto e = error_of("[actinfer]\nbackend = cuda\n");
    REQUIRE(e);
    INFO(e->what());
    CHECK(e->line() == 2);
    CHECK(e->key() == "actinfer.backend");
    CHECK(contains(e->what(), "double quotes"));
  }
  SUBCASE("unquoted size: CAF would read 8 and start a new key 'GiB'") {
    auto e = error_of("[actinfer]\nvram-budget = 8GiB\nbatch = 2\n");
    REQUIRE(e);
    INFO(e->what());
    CHECK(e->line() == 2);
    CHECK(e->key() == "actinfer.vram-budget");
    CHECK(contains(e->what(), "unexpected 'GiB' after the value"));
    CHECK(contains(e->what(), "\"8GiB\""));
  }
  SUBCASE("two keys on one line, which CAF alone would accept") {
    auto e = error_of("[actinfer]\nbatch = 1 ctx = 2\n");
    REQUIRE(e);
    INFO(e->what());
    CHECK(e->line() == 2);
    CHECK(contains(e->what(), "unexpected 'ctx' after the value"));
  }
  SUBCASE("unterminated string") {
    auto e = error_of("[actinfer]\ntrace = \"out.json\n");
    REQUIRE(e);
    INFO(e->what());
    CHECK(e->line() == 2);
    CHECK(e->key() == "actinfer.trace");
    CHECK(contains(e->what(), "unterminated string"));
  }
  SUBCASE("unterminated list") {
    auto e = error_of("[actinfer]\nhost-cores = [0, 1\n");
    REQUIRE(e);
    INFO(e->what());
    CHECK(contains(e->what(), "unexpected end of input"));
    CHECK(contains(e->what(), "actinfer.host-cores"));
  }
  SUBCASE("dotted key inside a section") {
    auto e = error_of("[actinfer]\nteam.0.threads = 2\n");
    REQUIRE(e);
    INFO(e->what());
    CHECK(e->line() == 2);
    CHECK(contains(e->what(), "[actinfer.team.0]"));
  }
  SUBCASE("Windows line endings") {
    auto e = error_of("[actinfer]\r\nbatch = 1\r\n");
    REQUIRE(e);
    INFO(e->what());
    CHECK(e->line() == 1);
    CHECK(contains(e->what(), "line endings"));
  }
  SUBCASE("unclosed section header") {
    auto e = error_of("[actinfer\nbatch = 1\n");
    REQUIRE(e);
    INFO(e->what());
    CHECK(e->line() == 1);
    CHECK(contains(e->what(), "test.conf:1:"));
  }
}

TEST_CASE("deployment config: override errors name the override and the key") {
  const char* file = "[actinfer]\nbatch = 1\n";
  check_override_error(file, "actinfer.batch=abc", "actinfer.batch", "expected an integer, got 'abc'");
  check_override_error(file, "actinfer.hot-fraction=2", "actinfer.hot-fraction", "between 0 and 1");
  check_override_error(file, "actinfer.vram-budget=-1GiB", "actinfer.vram-budget", "negative");
  check_override_error(file, "actinfer.backend=tpu", "actinfer.backend", "unknown value 'tpu'");
  check_override_error(file, "actinfer.bakend=cuda", "actinfer.bakend", "did you mean 'backend'");
  check_override_error(file, "backend=cuda", "backend", "did you mean 'actinfer.backend'");
  check_override_error(file, "scheduler.policy=fifo", "scheduler.policy", "expected sharing or stealing");
  check_override_error(file, "actinfer.team.0.threads=-1", "actinfer.team.0.threads", "got -1");
  check_override_error(file, "actinfer.team.x.threads=1", "actinfer.team.x.threads", "not a team number");
  check_override_error(file, "actinfer.host-cores=0-a", "actinfer.host-cores", "invalid core list");
  // A team created by an override still needs its NUMA node, and team numbers have no gaps
  // (without team sections in the file there is no team 0 to add to).
  check_override_error("[actinfer.team.0]\nnuma-node = 0\n", "actinfer.team.1.threads=4", "actinfer.team.1.numa-node",
                       "missing");
  check_override_error(file, "actinfer.team.2.numa-node=1", "actinfer.team.2", "actinfer.team.1 is missing");
  auto e = error_of(file, {"actinfer.backend"});
  REQUIRE(e);
  CHECK(contains(e->what(), "expected key=value"));
}

TEST_CASE("deployment config: a missing file is named") {
  try {
    load_deployment_config("/nonexistent/deploy.conf");
    FAIL("no error");
  } catch (const ConfigError& e) {
    CHECK(contains(e.what(), "/nonexistent/deploy.conf"));
  }
}

TEST_CASE("deployment config: parse_byte_size") {
  CHECK(parse_byte_size("0") == 0);
  CHECK(parse_byte_size("1024") == 1024);
  CHECK(parse_byte_size("8GiB") == 8ull << 30);
  CHECK(parse_byte_size("8 GiB") == 8ull << 30);
  CHECK(parse_byte_size("8gib") == 8ull << 30);
  CHECK(parse_byte_size("8G") == 8ull << 30);
  CHECK(parse_byte_size("8 GB") == 8000000000ull);
  CHECK(parse_byte_size("512MiB") == 512ull << 20);
  CHECK(parse_byte_size("512 MB") == 512000000ull);
  CHECK(parse_byte_size("4KiB") == 4096);
  CHECK(parse_byte_size("4kb") == 4000);
  CHECK(parse_byte_size("2TiB") == 2ull << 40);
  CHECK(parse_byte_size("100B") == 100);
  CHECK(parse_byte_size("  1.5GiB  ") == 1610612736ull);
  CHECK(parse_byte_size("0.5KiB") == 512);
  CHECK(parse_byte_size("18446744073709551615") == UINT64_MAX);
  for (const char* bad : {"", "  ", "-1", "-8GiB", "GiB", "8 XB", "8GiBs", "1e9", "8..5G", "18446744073709551616",
                          "20000000TiB", "0x10"}) {
    CAPTURE(bad);
    try {
      parse_byte_size(bad);
      FAIL("accepted");
    } catch (const ConfigError& e) {
      CHECK(contains(e.what(), std::string("'") + bad + "'"));
    }
  }
  CHECK(format_byte_size(24ull << 30) == "24 GiB");
  CHECK(format_byte_size(8000000000ull) == "8 GB");
  CHECK(format_byte_size(1000) == "1 KB");
  CHECK(format_byte_size(1536) == "1536 B");
  CHECK(format_cpu_list({0, 1, 2, 3, 8, 10, 11}) == "0-3,8,10-11");
}

TEST_CASE("deployment config: describe() shows every part") {
  DeploymentConfig c = load_deployment_config(kConfigs / "two-socket-workstation.conf");
  std::string d = describe(c);
  INFO(d);
  CHECK(contains(d, "two-socket-workstation.conf"));
  CHECK(contains(d, "cuda"));
  CHECK(contains(d, "24 GiB"));
  CHECK(contains(d, "team 0: NUMA node 0, cores 1-15"));
  CHECK(contains(d, "team 1: NUMA node 1, cores 16-31"));
  CHECK(contains(d, "sharing"));
  std::string h = describe(load_deployment_config(kConfigs / "default.conf"));
  CHECK(contains(h, "host"));
  CHECK(contains(h, "2 threads"));
}

TEST_CASE("deployment config: sparse kernels, predictor files and recall checking") {
  const DeploymentConfig c = parse_deployment_config(
      "[actinfer]\nsparse = true\npredictor = \"trained\"\npredictors = \"p.gguf\"\nprofile = \"prof.gguf\"\ncheck-recall = true\n",
      "test.conf");
  CHECK(c.sparse);
  CHECK(c.predictor == PredictorMode::trained);
  CHECK(c.predictors == "p.gguf");
  CHECK(c.profile == "prof.gguf");
  CHECK(c.check_recall);
  const DeploymentConfig d = parse_deployment_config("", "defaults");
  CHECK_FALSE(d.sparse);
  CHECK(d.predictor == PredictorMode::automatic);
  const DeploymentConfig o = parse_deployment_config("", "defaults", {"actinfer.sparse=true"});
  CHECK(o.sparse);
  check_file_error("[actinfer]\nsparse = \"yes\"\n", 2, "actinfer.sparse", "expected true or false");
}

TEST_CASE("deployment config: sparse-dense-crossover is read, checked and described") {
  const DeploymentConfig d = parse_deployment_config("", "defaults");
  CHECK(d.sparse_dense_crossover == 16);  // the measured default (configs/README.md)
  const DeploymentConfig c = parse_deployment_config("[actinfer]\nsparse = true\nsparse-dense-crossover = 100\n", "test.conf");
  CHECK(c.sparse_dense_crossover == 100);
  CHECK(contains(describe(c), "dense above 100 tokens per step"));
  CHECK_FALSE(contains(describe(d), "dense above"));  // dense kernels: the key does not apply
  const DeploymentConfig o = parse_deployment_config("", "defaults", {"actinfer.sparse-dense-crossover=1048576"});
  CHECK(o.sparse_dense_crossover == 1048576);
  check_file_error("[actinfer]\nsparse-dense-crossover = 0\n", 2, "actinfer.sparse-dense-crossover", "got 0");
  check_file_error("[actinfer]\nsparse-dense-crossover = 1048577\n", 2, "actinfer.sparse-dense-crossover", "got 1048577");
  check_file_error("[actinfer]\nsparse-dense-crossover = \"many\"\n", 2, "actinfer.sparse-dense-crossover", "many");
}

TEST_CASE("deployment config: host-pinning is read, checked and described") {
  const DeploymentConfig d = parse_deployment_config("", "defaults");
  CHECK(d.host_pinning == HostPinning::automatic);
  CHECK(contains(describe(d), "pinned one per core when they take every core"));
  const DeploymentConfig off = parse_deployment_config("[actinfer]\nhost-pinning = \"off\"\n", "test.conf");
  CHECK(off.host_pinning == HostPinning::off);
  CHECK(contains(describe(off), "unpinned"));
  CHECK(parse_deployment_config("", "d", {"actinfer.host-pinning=off"}).host_pinning == HostPinning::off);
  const DeploymentConfig cores = parse_deployment_config("[actinfer]\nhost-pinning = \"off\"\nhost-cores = [0]\n", "test.conf");
  CHECK(contains(describe(cores), "pinned to cores 0"));
  check_file_error("[actinfer]\nhost-pinning = \"always\"\n", 2, "actinfer.host-pinning", "unknown value 'always' (expected auto or off)");
}

// ---------------------------------------------------------------------------
// One precedence rule: built-in defaults < config file < --set < explicit flags.

TEST_CASE("deployment config: precedence, each pair") {
  const std::string file = "[actinfer]\nctx = 32\nhost-threads = 3\n";
  const FlagSetting flag_ctx{"-c", "actinfer.ctx", "64"};
  // defaults < file
  CHECK(parse_deployment_config("", "defaults").engine.n_ctx == 2048);
  CHECK(parse_deployment_config(file, "f").engine.n_ctx == 32);
  // file < --set
  CHECK(parse_deployment_config(file, "f", {"actinfer.ctx=16"}).engine.n_ctx == 16);
  // --set < flag (`-c 64 --set actinfer.ctx=32`: 64)
  CHECK(parse_deployment_config("", "defaults", {"actinfer.ctx=32"}, {flag_ctx}).engine.n_ctx == 64);
  // file < flag (`--config F -c 64`: 64), and a flag leaves the file's other keys alone
  const DeploymentConfig c = parse_deployment_config(file, "f", {}, {flag_ctx});
  CHECK(c.engine.n_ctx == 64);
  CHECK(c.engine.n_threads == 3);
  // defaults < flag; -t sets the host gpu-worker's threads (`-t 1` with default.conf)
  const DeploymentConfig t = load_deployment_config(kConfigs / "default.conf", {}, {{"-t", "actinfer.host-threads", "1"}});
  CHECK(t.engine.n_threads == 1);
  CHECK(contains(describe(t), "gpu-worker on 1 thread"));
  // A bad flag value is named as the flag.
  try {
    parse_deployment_config("", "defaults", {}, {{"--predictor", "actinfer.predictor", "psychic"}});
    FAIL("accepted");
  } catch (const ConfigError& e) {
    CHECK(contains(e.what(), "flag '--predictor psychic': actinfer.predictor: unknown value 'psychic'"));
  }
}

TEST_CASE("deployment config: where ctx came from, for the refusal above the trained context") {
  using Kind = SettingOrigin::Kind;
  const std::string file = "[actinfer]\n\nctx = 32\n";
  const DeploymentConfig d = parse_deployment_config("", "defaults");
  CHECK(d.ctx_origin.kind == Kind::built_in);
  CHECK(contains(describe(d), "ctx              2048 (KV cache positions; built-in default)"));
  const DeploymentConfig f = parse_deployment_config(file, "my.conf");
  CHECK(f.ctx_origin.kind == Kind::file);
  CHECK(f.ctx_origin.where == "my.conf:3");
  const DeploymentConfig o = parse_deployment_config(file, "my.conf", {"actinfer.ctx=16"});
  CHECK(o.ctx_origin.kind == Kind::override);
  CHECK(o.ctx_origin.where == "--set actinfer.ctx=16");
  const DeploymentConfig g = parse_deployment_config(file, "my.conf", {"actinfer.ctx=16"}, {{"--ctx", "actinfer.ctx", "64"}});
  CHECK(g.ctx_origin.kind == Kind::flag);
  CHECK(g.ctx_origin.where == "--ctx 64");
  CHECK(contains(describe(g), "ctx              64 (KV cache positions; from --ctx 64)"));
  // A later key that is not ctx leaves its origin alone.
  CHECK(parse_deployment_config(file, "my.conf", {"actinfer.batch=4"}).ctx_origin.where == "my.conf:3");
}

TEST_CASE("deployment config: cache-type, one precedence rule, and a bad value named") {
  const std::string file = "[actinfer]\ncache-type = \"f32\"\n";
  CHECK(parse_deployment_config("", "defaults").engine.cache_type == KvCacheType::F16);  // llama.cpp's default too
  CHECK(parse_deployment_config(file, "f").engine.cache_type == KvCacheType::F32);
  CHECK(parse_deployment_config("[actinfer]\ncache-type = 'f32'\n", "f").engine.cache_type == KvCacheType::F32);  // an atom too
  CHECK(parse_deployment_config(file, "f", {"actinfer.cache-type=f16"}).engine.cache_type == KvCacheType::F16);
  CHECK(parse_deployment_config("", "d", {"actinfer.cache-type=f32"}).engine.cache_type == KvCacheType::F32);
  const FlagSetting flag{"--cache-type", "actinfer.cache-type", "f16"};
  CHECK(parse_deployment_config(file, "f", {"actinfer.cache-type=f32"}, {flag}).engine.cache_type == KvCacheType::F16);
  CHECK(contains(describe(parse_deployment_config(file, "f")), "cache type       f32"));
  check_file_error("[actinfer]\ncache-type = \"q8_0\"\n", 2, "actinfer.cache-type", "unknown value 'q8_0' (expected f32 or f16)");
  check_file_error("[actinfer]\ncache-type = 16\n", 2, "actinfer.cache-type", "expected a string");
}

TEST_CASE("deployment config: mmap, one precedence rule, shown, and a bad value named") {
  const std::string file = "[actinfer]\nmmap = false\n";
  CHECK(parse_deployment_config("", "defaults").mmap);
  CHECK_FALSE(parse_deployment_config(file, "f").mmap);
  CHECK(parse_deployment_config(file, "f", {"actinfer.mmap=true"}).mmap);
  const FlagSetting no_mmap{"--no-mmap", "actinfer.mmap", "false"};
  CHECK_FALSE(parse_deployment_config("", "d", {"actinfer.mmap=true"}, {no_mmap}).mmap);
  CHECK(contains(describe(parse_deployment_config(file, "f")), "weights          read into huge pages (mmap = false)"));
  CHECK(contains(describe(parse_deployment_config("", "d")), "weights          mapped from the file"));
  check_file_error("[actinfer]\nmmap = \"no\"\n", 2, "actinfer.mmap", "expected true or false");
}

TEST_CASE("deployment config: ctx is applied, batch (serve's slots) is read and shown") {
  const DeploymentConfig c = parse_deployment_config("[actinfer]\nctx = 128\nbatch = 8\n", "f");
  CHECK(c.engine.n_ctx == 128);
  CHECK(c.batch == 8);
  const std::string d = describe(c);
  CHECK(contains(d, "ctx              128"));
  CHECK(contains(d, "batch            8 (sequence slots of serve)"));
}

TEST_CASE("deployment config: a team-less config takes --set overrides of the default team") {
  const DeploymentConfig c = parse_deployment_config("", "built-in defaults", {"actinfer.team.0.threads=1"});
  REQUIRE(c.teams.size() == 1);
  CHECK(c.teams[0].numa_node == 0);
  CHECK(c.teams[0].threads == 1);
  // Another team can be added next to it, on another node.
  const DeploymentConfig two = parse_deployment_config("[actinfer]\nbatch = 1\n", "f", {"actinfer.team.1.numa-node=1"});
  REQUIRE(two.teams.size() == 2);
  CHECK(two.teams[1].numa_node == 1);
}

TEST_CASE("deployment config: enums print as their config names") {
  CHECK(to_string(Runtime::dense) == "dense");
  CHECK(to_string(BackendKind::cuda) == "cuda");
  CHECK(to_string(PredictorMode::automatic) == "auto");
  CHECK(to_string(PredictorMode::threshold) == "threshold");
  CHECK(to_string(SchedulerPolicy::stealing) == "stealing");
  const DeploymentConfig c = parse_deployment_config(
      "[actinfer]\nruntime = \"dense\"\npredictor = \"all\"\n[scheduler]\npolicy = 'stealing'\n", "f");
  CHECK(c.runtime == Runtime::dense);
  CHECK(c.predictor == PredictorMode::all);
  CHECK(c.scheduler_policy == SchedulerPolicy::stealing);
}

TEST_CASE("deployment config: the config is found in the documented order") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("actinfer_find_config_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "xdg" / "actinfer");
  fs::create_directories(dir / "home" / ".config" / "actinfer");
  const fs::path project = dir / "default.conf", env = dir / "env.conf";
  for (const fs::path& p : {project, env, dir / "xdg" / "actinfer" / "actinfer.conf", dir / "home" / ".config" / "actinfer" / "actinfer.conf"})
    std::ofstream(p) << "[actinfer]\n";
  ConfigSearch s{env.string(), (dir / "xdg").string(), (dir / "home").string(), project};
  CHECK(find_config(s) == env);  // 1. $ACTINFER_CONFIG
  s.env_config.clear();
  CHECK(find_config(s) == dir / "xdg" / "actinfer" / "actinfer.conf");  // 2. $XDG_CONFIG_HOME/actinfer
  s.xdg_config_home.clear();
  CHECK(find_config(s) == dir / "home" / ".config" / "actinfer" / "actinfer.conf");  // 2. ~/.config/actinfer
  s.home = (dir / "nobody").string();
  CHECK(find_config(s) == project);  // 3. the project's configs/default.conf
  s.project_default = dir / "absent.conf";
  CHECK_FALSE(find_config(s).has_value());  // built-in defaults
  s.env_config = (dir / "absent-env.conf").string();
  CHECK_THROWS_WITH_AS(find_config(s), doctest::Contains("ACTINFER_CONFIG names"), ConfigError);
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------
// Core lists through hwloc's bitmap list functions.

TEST_CASE("deployment config: core lists read and written with hwloc") {
  CHECK(parse_cpu_list("0-3,8,10-11") == std::vector<int>{0, 1, 2, 3, 8, 10, 11});
  CHECK(parse_cpu_list(" 5 , 1-2 ") == std::vector<int>{1, 2, 5});
  CHECK(parse_cpu_list("").empty());
  CHECK(format_cpu_list({11, 0, 1, 2, 3, 8, 10}) == "0-3,8,10-11");
  CHECK(format_cpu_list({}) == "");
  CHECK(format_cpu_list({7}) == "7");
  for (const char* bad : {"3-", "-3", "a", "1,,2", "3-1", "65536", "0-99999999", "1-3,2"}) {
    CAPTURE(bad);
    CHECK_THROWS_AS(parse_cpu_list(bad), std::invalid_argument);
  }
  CHECK_THROWS_WITH(parse_cpu_list("1-3,2"), "core 2 is listed twice");
  check_file_error("[actinfer]\nhost-cores = \"0-\"\n", 2, "actinfer.host-cores", "invalid core list '0-'");
}

// ---------------------------------------------------------------------------
// Whether a config fits the machine: one message.

TEST_CASE("deployment config: a config that does not fit the machine is refused in one message") {
  const auto topo = topology::Topology::discover();
  const int nodes = static_cast<int>(topo.numa_nodes().size());
  DeploymentConfig c = parse_deployment_config(
      "[actinfer.team.0]\nnuma-node = 0\ncores = [0, 65534, 65535]\n[actinfer.team.1]\nnuma-node = 1023\n", "big.conf");
  try {
    check_fits_machine(c, topo);
    FAIL("accepted");
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find('\n') == std::string::npos);
    CHECK(contains(m, "big.conf does not fit this machine"));
    CHECK(contains(m, "team 0: cores 65534-65535 do not exist"));
    CHECK(contains(m, "team 1: NUMA node 1023 does not exist (the topology has " + std::to_string(nodes)));
  }
  // The shipped default fits.
  CHECK_NOTHROW(check_fits_machine(load_deployment_config(kConfigs / "default.conf"), topo));
}

// ---------------------------------------------------------------------------
// Hostile input (issue 17): only regular files, bounded size and nesting, linear time, no NUL.

namespace {

std::string error_text(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("config input: a directory, a FIFO and a device are refused at once") {
  namespace fs = std::filesystem;
  const std::string dir_msg = error_text([] { load_deployment_config(kConfigs); });
  CHECK(contains(dir_msg, "is a directory; only a regular file is read as a config"));
  const std::string zero_msg = error_text([] { load_deployment_config("/dev/zero"); });
  CHECK(contains(zero_msg, "'/dev/zero': is a character device"));
  const fs::path fifo = fs::temp_directory_path() / ("actinfer_config_fifo_" + std::to_string(::getpid()));
  fs::remove(fifo);
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // No writer: a blocking open would hang here.
  const std::string fifo_msg = error_text([&] { load_deployment_config(fifo); });
  fs::remove(fifo);
  CHECK(contains(fifo_msg, "is a FIFO"));
}

TEST_CASE("config input: a file over 1 MiB is refused") {
  namespace fs = std::filesystem;
  const fs::path big = fs::temp_directory_path() / ("actinfer_config_big_" + std::to_string(::getpid()) + ".conf");
  {
    std::ofstream out(big);
    out << "[actinfer]\n" << std::string(kMaxConfigBytes, ';') << "\n";
  }
  const std::string msg = error_text([&] { load_deployment_config(big); });
  fs::remove(big);
  CHECK(contains(msg, "larger than 1 MiB"));
}

TEST_CASE("config input: 100000 section headers parse in linear time") {
  std::string text;
  for (int i = 0; i < 100000; ++i) text += "[actinfer]\n";
  text += "ctx = 77\n";
  const auto start = std::chrono::steady_clock::now();
  const DeploymentConfig c = parse_deployment_config(text, "many.conf");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(c.engine.n_ctx == 77);
  // Quadratic line counting took over 120 s in Release; linear takes 0.1 s there and 1.1 s under
  // ASan on a loaded 2-core host (tools/checked_builds.sh asan), so 10 s tells them apart in both.
  CHECK(seconds < 10.0);
  // An error at the end names the right line without counting from the start per key.
  const std::string msg = error_text([&] { parse_deployment_config(text + "bogus = 1\n", "many.conf"); });
  CHECK(contains(msg, "many.conf:100002: actinfer.bogus: unknown key"));
}

TEST_CASE("config input: nesting deeper than 32 levels is refused without recursion") {
  for (const auto& opening : {std::pair<std::string, std::string>{"[", "["}, {"{", "x = {"}}) {
    const std::string& first = opening.first;
    const std::string& open = opening.second;  // (clang 14 cannot capture a structured binding in CAPTURE)
    CAPTURE(open);
    std::string deep = "[actinfer]\nhost-cores = " + first;
    for (int i = 0; i < 50000; ++i) deep += open;
    const std::string msg = error_text([&] { parse_deployment_config(deep, "deep.conf"); });
    CHECK(contains(msg, "deep.conf:2:"));
    CHECK(contains(msg, "nested deeper than 32 levels"));
  }
  // 32 levels are read (and then refused by the schema as not a core list).
  std::string ok = "[actinfer]\nhost-cores = " + std::string(32, '[') + std::string(32, ']') + "\n";
  CHECK(contains(error_text([&] { parse_deployment_config(ok, "ok.conf"); }), "not an integer"));
}

TEST_CASE("config input: a NUL byte is refused with its line") {
  const std::string text = std::string("[actinfer]\nctx = 64\nbat") + '\0' + "ch = 1\n";
  const std::string msg = error_text([&] { parse_deployment_config(text, "nul.conf"); });
  CHECK(contains(msg, "nul.conf:3:4:"));
  CHECK(contains(msg, "NUL byte"));
}
