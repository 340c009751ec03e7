// Deployment-config loader. config/config_reader.h turns the text into dotted paths
// ("actinfer.team.1.threads") with their lines; every path is checked against the schema
// below and every value's type and range is checked, so a typo is an error naming the
// file, line and key. Then the `--set` overrides and the explicit flags are applied through
// the same schema, in that order: one precedence rule, in one place.
//
// Only three section families exist: [actinfer], [actinfer.team.<N>] and CAF's own
// [scheduler] (policy, max-threads; the runtime hands them to CAF). Any other section is
// an error; to admit another, add its keys to a schema table below.
#include "config/deployment_config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <sstream>

#include "config/config_reader.h"
#include "config/cpu_list.h"

namespace actinfer {
namespace {

// ---------------------------------------------------------------------------
// Where a value came from.

struct Origin {
  std::string source;  // file or source name, "override 'key=value'" or "flag '-c 64'"
  int line = 0;        // 1-based; 0 for overrides, flags and defaults
  SettingOrigin setting = {SettingOrigin::Kind::file, ""};  // the kind and its short name ("--set k=v", "-c 64")
  std::string where() const { return line > 0 ? source + ":" + std::to_string(line) : source; }
  SettingOrigin as_setting() const {
    SettingOrigin s = setting;
    if (s.where.empty()) s.where = where();
    return s;
  }
};

[[noreturn]] void fail(const Origin& origin, const std::string& key, const std::string& message) {
  std::string text = origin.where() + ": ";
  if (!key.empty()) text += key + ": ";
  text += message;
  throw ConfigError(text, origin.source, origin.line, key);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// ---------------------------------------------------------------------------
// Values: typed by the reader (file) or plain text (override, flag).

struct Item {
  std::string key;
  const ConfigValue* cv = nullptr;  // from the file
  std::string text;                 // from an override or a flag (cv == nullptr)
  Origin origin;
};

[[noreturn]] void fail(const Item& item, const std::string& message) { fail(item.origin, item.key, message); }

std::string shown(const Item& item) {
  if (item.cv) return std::string(item.cv->type_name()) + " " + item.cv->to_string();
  return "'" + item.text + "'";
}

// Override text: surrounding quotes (as in actinfer.backend="cuda") are optional.
std::string unquoted(std::string_view s) {
  s = trim(s);
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front())
    s = s.substr(1, s.size() - 2);
  return std::string(s);
}

using Kind = ConfigValue::Kind;

std::string get_string(const Item& item, bool allow_atom) {
  if (!item.cv) return unquoted(item.text);
  if (item.cv->kind == Kind::string || (allow_atom && item.cv->kind == Kind::atom)) return item.cv->text;
  fail(item, "expected a string in double quotes, got " + shown(item));
}

template <size_t N>
std::string join(const std::array<std::string_view, N>& words, std::string_view last_sep = " or ") {
  std::string out;
  for (size_t i = 0; i < N; ++i) {
    if (i > 0) out += (i + 1 == N) ? std::string(last_sep) : std::string(", ");
    out += words[i];
  }
  return out;
}

std::string join(const std::vector<std::string_view>& words, std::string_view last_sep = " or ") {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += (i + 1 == words.size()) ? std::string(last_sep) : std::string(", ");
    out += words[i];
  }
  return out;
}

template <class Enum, size_t N>
Enum to_enum(const Item& item, const std::string& value, const std::array<std::string_view, N>& names) {
  for (size_t i = 0; i < N; ++i)
    if (names[i] == value) return static_cast<Enum>(i);
  fail(item, "unknown value '" + value + "' (expected " + join(names) + ")");
}

template <class Enum, size_t N>
Enum get_choice(const Item& item, const std::array<std::string_view, N>& names) {
  return to_enum<Enum>(item, get_string(item, true), names);
}

// CAF reads scheduler.policy only as an atom: a string there is silently ignored by
// CAF, so the file keeps 'single quotes' (the shipped files are also valid CAF configs).
SchedulerPolicy get_policy(const Item& item) {
  std::string value;
  if (!item.cv) {
    value = unquoted(item.text);
  } else if (item.cv->kind == Kind::atom) {
    value = item.cv->text;
  } else if (item.cv->kind == Kind::string) {
    fail(item, "expected an atom in single quotes such as '" + item.cv->text +
                   "' (CAF ignores a double-quoted string here), got " + shown(item));
  } else {
    fail(item, "expected an atom in single quotes such as 'sharing', got " + shown(item));
  }
  return to_enum<SchedulerPolicy>(item, value, kSchedulerPolicyNames);
}

bool get_bool(const Item& item) {
  if (item.cv) {
    if (item.cv->kind == Kind::boolean) return item.cv->boolean;
    fail(item, "expected true or false, got " + shown(item));
  }
  const std::string t = unquoted(item.text);
  if (t == "true") return true;
  if (t == "false") return false;
  fail(item, "expected true or false, got " + shown(item));
}

std::string range_text(int64_t lo, int64_t hi) {
  if (hi == std::numeric_limits<int>::max()) return ">= " + std::to_string(lo);
  return "between " + std::to_string(lo) + " and " + std::to_string(hi);
}

int get_int(const Item& item, int64_t lo, int64_t hi) {
  int64_t v = 0;
  if (item.cv) {
    if (item.cv->kind != Kind::integer) fail(item, "expected an integer, got " + shown(item));
    v = item.cv->integer;
  } else {
    std::string t = unquoted(item.text);
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc() || p != t.data() + t.size())
      fail(item, "expected an integer, got " + shown(item));
  }
  if (v < lo || v > hi) fail(item, "must be " + range_text(lo, hi) + ", got " + std::to_string(v));
  return static_cast<int>(v);
}

double get_real(const Item& item, double lo, double hi) {
  double v = 0;
  if (item.cv) {
    if (item.cv->kind == Kind::real)
      v = item.cv->real;
    else if (item.cv->kind == Kind::integer)
      v = static_cast<double>(item.cv->integer);
    else
      fail(item, "expected a number, got " + shown(item));
  } else {
    std::string t = unquoted(item.text);
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (t.empty() || ec != std::errc() || p != t.data() + t.size())
      fail(item, "expected a number, got " + shown(item));
  }
  if (!std::isfinite(v) || v < lo || v > hi) {
    std::ostringstream os;
    os << "must be between " << lo << " and " << hi << ", got " << v;
    fail(item, os.str());
  }
  return v;
}

uint64_t get_bytes(const Item& item) {
  if (item.cv) {
    if (item.cv->kind == Kind::integer) {
      if (item.cv->integer < 0) fail(item, "must not be negative, got " + std::to_string(item.cv->integer));
      return static_cast<uint64_t>(item.cv->integer);
    }
    if (item.cv->kind != Kind::string)
      fail(item, "expected a size such as \"8GiB\" or an integer number of bytes, got " + shown(item));
  }
  std::string text = item.cv ? item.cv->text : unquoted(item.text);
  try {
    return parse_byte_size(text);
  } catch (const ConfigError& e) {
    fail(item, e.what());
  }
}

// "0-3,8,10-11" (Linux cpulist syntax, read by hwloc); optional [ ] around it.
std::vector<int> cpu_list_text(const Item& item, std::string_view s) {
  s = trim(s);
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = trim(s.substr(1, s.size() - 2));
  try {
    return parse_cpu_list(s);
  } catch (const std::invalid_argument& e) {
    fail(item, "invalid core list '" + std::string(s) + "': " + e.what() + " (expected e.g. \"0-3,8,10-11\" or [0, 1, 2])");
  }
}

std::vector<int> get_cpus(const Item& item) {
  if (!item.cv) return cpu_list_text(item, item.text);
  if (item.cv->kind == Kind::string) return cpu_list_text(item, item.cv->text);
  if (item.cv->kind != Kind::list)
    fail(item, "expected a list of core numbers such as [0, 1, 2, 3] or a string such as \"0-3,8\", got " + shown(item));
  std::string text;
  for (size_t k = 0; k < item.cv->list.size(); ++k) {
    const ConfigValue& e = item.cv->list[k];
    if (e.kind != Kind::integer)
      fail(item, "element " + std::to_string(k) + " of the core list is not an integer: " + e.to_string());
    if (e.integer < 0 || e.integer > kMaxCpu)
      fail(item, "core " + std::to_string(e.integer) + " out of range 0.." + std::to_string(kMaxCpu));
    if (k) text += ',';
    text += std::to_string(e.integer);
  }
  return cpu_list_text(item, text);
}

std::string check_topology(const Item& item) {
  std::string t = get_string(item, false);
  auto ok = [&] {
    if (t == "real") return true;
    for (std::string_view prefix : {"synthetic:", "xml:"})
      if (t.size() > prefix.size() && t.compare(0, prefix.size(), prefix) == 0 &&
          !trim(std::string_view(t).substr(prefix.size())).empty())
        return true;
    return false;
  }();
  if (!ok)
    fail(item, "unknown topology '" + t +
                   "' (expected \"real\", \"synthetic:<hwloc synthetic description>\" or \"xml:<path>\")");
  return t;
}

// ---------------------------------------------------------------------------
// Schema.

struct TeamState {
  TeamConfig team;
  Origin origin;  // first mention (section header or key)
  bool has_node = false;
  Origin node_origin;
  Origin cores_origin;
};

struct State {
  DeploymentConfig cfg;
  std::map<int, TeamState> teams;
};

struct Field {
  std::string_view name;
  std::function<void(State&, TeamState*, const Item&)> apply;
};

const std::vector<Field>& actinfer_fields() {
  static const std::vector<Field> fields = {
      {"runtime", [](State& s, TeamState*, const Item& v) { s.cfg.runtime = get_choice<Runtime>(v, kRuntimeNames); }},
      {"backend", [](State& s, TeamState*, const Item& v) { s.cfg.backend = get_choice<BackendKind>(v, kBackendNames); }},
      {"topology", [](State& s, TeamState*, const Item& v) { s.cfg.topology = check_topology(v); }},
      {"gpu-device", [](State& s, TeamState*, const Item& v) { s.cfg.gpu_device = get_int(v, 0, 255); }},
      {"vram-budget", [](State& s, TeamState*, const Item& v) { s.cfg.vram_budget = get_bytes(v); }},
      {"host-threads", [](State& s, TeamState*, const Item& v) { s.cfg.engine.n_threads = get_int(v, 0, 4096); }},
      {"host-cores", [](State& s, TeamState*, const Item& v) { s.cfg.host_pus = get_cpus(v); }},
      {"host-pinning",
       [](State& s, TeamState*, const Item& v) { s.cfg.host_pinning = get_choice<HostPinning>(v, kHostPinningNames); }},
      {"hot-fraction", [](State& s, TeamState*, const Item& v) { s.cfg.hot_fraction = get_real(v, 0.0, 1.0); }},
      {"placement", [](State& s, TeamState*, const Item& v) { s.cfg.placement = get_string(v, false); }},
      {"predictor", [](State& s, TeamState*, const Item& v) {
         s.cfg.predictor = get_choice<PredictorMode>(v, kPredictorNames);
       }},
      {"sparse", [](State& s, TeamState*, const Item& v) { s.cfg.sparse = get_bool(v); }},
      {"sparse-dense-crossover",
       [](State& s, TeamState*, const Item& v) { s.cfg.sparse_dense_crossover = get_int(v, 1, 1 << 20); }},
      {"profile", [](State& s, TeamState*, const Item& v) { s.cfg.profile = get_string(v, false); }},
      {"predictors", [](State& s, TeamState*, const Item& v) { s.cfg.predictors = get_string(v, false); }},
      {"check-recall", [](State& s, TeamState*, const Item& v) { s.cfg.check_recall = get_bool(v); }},
      {"predictor-threads", [](State& s, TeamState*, const Item& v) { s.cfg.predictor_threads = get_int(v, 0, 4096); }},
      {"batch", [](State& s, TeamState*, const Item& v) { s.cfg.batch = get_int(v, 1, 65536); }},
      {"ctx",
       [](State& s, TeamState*, const Item& v) {
         s.cfg.engine.n_ctx = get_int(v, 1, 1 << 24);
         s.cfg.ctx_origin = v.origin.as_setting();
       }},
      {"mmap", [](State& s, TeamState*, const Item& v) { s.cfg.mmap = get_bool(v); }},
      {"cache-type",
       [](State& s, TeamState*, const Item& v) { s.cfg.engine.cache_type = get_choice<KvCacheType>(v, kCacheTypeNames); }},
      {"trace", [](State& s, TeamState*, const Item& v) { s.cfg.trace = get_string(v, false); }},
  };
  return fields;
}

const std::vector<Field>& team_fields() {
  static const std::vector<Field> fields = {
      {"numa-node",
       [](State&, TeamState* t, const Item& v) {
         t->team.numa_node = get_int(v, 0, 1023);
         t->has_node = true;
         t->node_origin = v.origin;
       }},
      {"cores",
       [](State&, TeamState* t, const Item& v) {
         t->team.pus = get_cpus(v);
         t->cores_origin = v.origin;
       }},
      {"threads", [](State&, TeamState* t, const Item& v) { t->team.threads = get_int(v, 0, 4096); }},
  };
  return fields;
}

const std::vector<Field>& scheduler_fields() {
  static const std::vector<Field> fields = {
      {"policy",
       [](State& s, TeamState*, const Item& v) {
         s.cfg.scheduler_policy = get_policy(v);
       }},
      {"max-threads", [](State& s, TeamState*, const Item& v) { s.cfg.scheduler_threads = get_int(v, 1, 4096); }},
  };
  return fields;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string normalized(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = c == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string suggestion(std::string_view name, const std::vector<std::string_view>& known) {
  std::string best;
  size_t best_d = 3;
  for (auto k : known) {
    size_t d = normalized(name) == k ? 0 : edit_distance(normalized(name), k);
    if (d < best_d) best_d = d, best = std::string(k);
  }
  return best;
}

std::vector<std::string_view> names(const std::vector<Field>& fields) {
  std::vector<std::string_view> out;
  for (auto& f : fields) out.push_back(f.name);
  return out;
}

[[noreturn]] void unknown_key(const Item& item, std::string_view name, std::string_view section,
                              const std::vector<Field>& fields) {
  auto known = names(fields);
  std::string msg = "unknown key '" + std::string(name) + "' in [" + std::string(section) + "]";
  std::string s = suggestion(name, known);
  if (!s.empty()) msg += " (did you mean '" + s + "'?)";
  msg += "; known keys: " + join(known, ", ");
  fail(item, msg);
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (true) {
    size_t dot = path.find('.', pos);
    parts.emplace_back(path.substr(pos, dot == std::string_view::npos ? std::string_view::npos : dot - pos));
    if (dot == std::string_view::npos) break;
    pos = dot + 1;
  }
  return parts;
}

constexpr int kMaxTeams = 1024;

std::optional<int> team_index(std::string_view s) {
  if (s.empty() || s.size() > 4) return std::nullopt;
  if (s.size() > 1 && s[0] == '0') return std::nullopt;
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v >= kMaxTeams) return std::nullopt;
  return v;
}

TeamState& team_at(State& st, const Item& item, const std::string& index_text) {
  auto index = team_index(index_text);
  if (!index)
    fail(item, "'" + index_text + "' is not a team number; teams are numbered 0, 1, 2, ... (below " +
                   std::to_string(kMaxTeams) + "), e.g. [actinfer.team.0]");
  auto [it, inserted] = st.teams.try_emplace(*index);
  if (inserted) it->second.origin = item.origin;
  return it->second;
}

const std::string kSections = "[actinfer], [actinfer.team.<N>] and [scheduler]";

std::string rest_of(const std::vector<std::string>& parts, size_t from) {
  std::string name = parts[from];
  for (size_t k = from + 1; k < parts.size(); ++k) name += "." + parts[k];
  return name;
}

[[noreturn]] void unknown_section(const Item& item, const std::string& section) {
  std::string msg = "unknown section [" + section + "]";
  std::string s = suggestion(section, {"actinfer", "scheduler"});
  if (!s.empty()) msg += " (did you mean [" + s + "]?)";
  fail(item, msg + "; actinfer reads only " + kSections);
}

// A map inside a known section whose name is no subsection: `extra { ... }`
// or `[actinfer.extra]`.
[[noreturn]] void not_a_section(const Item& item, const std::string& name, const std::string& section,
                                const std::vector<Field>& fields) {
  for (auto& f : fields)
    if (f.name == name) fail(item, "expected a value, not a section or { ... } map");
  unknown_key(item, name, section, fields);
}

// A section header (or `key { ... }` map) at `item.key`.
void open_section(State& st, const Item& item) {
  auto parts = split_path(item.key);
  const std::string& section = parts[0];
  if (parts.size() == 1) {
    if (section == "actinfer" || section == "scheduler" || section == "global") return;  // [global] keys: apply()
    unknown_section(item, section);
  }
  if (section == "actinfer") {
    if (parts[1] == "team") {
      if (parts.size() == 2) return;
      TeamState& team = team_at(st, item, parts[2]);
      (void)team;
      if (parts.size() == 3) return;
      not_a_section(item, rest_of(parts, 3), "actinfer.team." + parts[2], team_fields());
    }
    not_a_section(item, rest_of(parts, 1), "actinfer", actinfer_fields());
  }
  if (section == "scheduler") not_a_section(item, rest_of(parts, 1), "scheduler", scheduler_fields());
  if (section == "global") return;
  unknown_section(item, section);
}

void apply(State& st, const Item& item) {
  auto parts = split_path(item.key);
  if (parts.size() == 1) {
    // Override without a section, e.g. "backend=cuda".
    std::string hint;
    for (auto* fields : {&actinfer_fields(), &scheduler_fields()})
      for (auto& f : *fields)
        if (f.name == normalized(parts[0]))
          hint = std::string(fields == &actinfer_fields() ? "actinfer." : "scheduler.") + std::string(f.name);
    fail(item, "keys are written section.key" + (hint.empty() ? std::string() : " (did you mean '" + hint + "'?)"));
  }
  const std::string& section = parts[0];
  if (section == "global")
    fail(item.origin, item.key.substr(7), "is outside any section; actinfer reads only " + kSections);
  if (section == "actinfer") {
    if (parts[1] == "team") {
      if (parts.size() == 2)
        fail(item, "teams are written as sections [actinfer.team.0], [actinfer.team.1], ... with keys " +
                       join(names(team_fields()), ", "));
      if (parts.size() == 3 && team_index(parts[2]))
        fail(item, "expected a section [actinfer.team." + parts[2] + "] with keys " +
                       join(names(team_fields()), ", ") + ", not a value");
      TeamState& team = team_at(st, item, parts[2]);
      std::string name = rest_of(parts, 3);
      for (auto& f : team_fields())
        if (f.name == name) return f.apply(st, &team, item);
      unknown_key(item, name, "actinfer.team." + parts[2], team_fields());
    }
    std::string name = rest_of(parts, 1);
    for (auto& f : actinfer_fields())
      if (f.name == name) return f.apply(st, nullptr, item);
    unknown_key(item, name, "actinfer", actinfer_fields());
  }
  if (section == "scheduler") {
    std::string name = rest_of(parts, 1);
    for (auto& f : scheduler_fields())
      if (f.name == name) return f.apply(st, nullptr, item);
    unknown_key(item, name, "scheduler", scheduler_fields());
  }
  unknown_section(item, section);
}

// Without any team in the file, the default team (NUMA node 0, all its cores) is there for
// overrides to change: `--set actinfer.team.0.threads=1` works without a config file.
void seed_default_team(State& st) {
  if (!st.teams.empty()) return;
  TeamState& t = st.teams[0];
  t.origin = t.node_origin = t.cores_origin = Origin{"the built-in default team", 0};
  t.has_node = true;
}

void finish(State& st) {
  DeploymentConfig& cfg = st.cfg;
  cfg.teams.clear();
  // Team numbers run 0..N-1.
  int expected = 0;
  for (auto& [index, team] : st.teams) {
    if (index != expected)
      fail(team.origin, "actinfer.team." + std::to_string(index),
           "team numbers must run 0, 1, 2, ... without gaps, but actinfer.team." + std::to_string(expected) +
               " is missing");
    ++expected;
  }
  std::map<int, int> node_owner;  // numa node -> team
  std::map<int, int> core_owner;  // core -> team
  for (auto& [index, team] : st.teams) {
    std::string key = "actinfer.team." + std::to_string(index);
    if (!team.has_node)
      fail(team.origin, key + ".numa-node",
           "missing: every team names the NUMA node whose cores and memory it uses (numa-node = " +
               std::to_string(index) + " or the right node in [" + key + "])");
    auto [nit, fresh] = node_owner.emplace(team.team.numa_node, index);
    if (!fresh) {
      const auto& first = st.teams.at(nit->second);
      fail(team.node_origin, key + ".numa-node",
           "NUMA node " + std::to_string(team.team.numa_node) + " already has a team: actinfer.team." +
               std::to_string(nit->second) + " (" + first.node_origin.where() + "); one team per NUMA node");
    }
    for (int core : team.team.pus) {
      auto [cit, free] = core_owner.emplace(core, index);
      if (!free)
        fail(team.cores_origin, key + ".cores",
             "core " + std::to_string(core) + " is already used by actinfer.team." + std::to_string(cit->second) +
                 " (" + st.teams.at(cit->second).cores_origin.where() + ")");
    }
    cfg.teams.push_back(team.team);
  }
}

// "key=value" text from `origin` through the schema.
void apply_text(State& st, const std::string& key, const std::string& value, const Origin& origin) {
  Item item{std::string(trim(key)), nullptr, value, origin};
  if (item.key.empty()) fail(origin, "", "empty key; expected key=value, e.g. actinfer.backend=cuda");
  apply(st, item);
}

}  // namespace

// ---------------------------------------------------------------------------

DeploymentConfig parse_deployment_config(std::string_view text, const std::string& source_name,
                                         const std::vector<std::string>& overrides,
                                         const std::vector<FlagSetting>& flags) {
  State st;
  st.cfg.source = source_name;
  const std::vector<ConfigEntry> entries = read_config_text(text, source_name);

  std::map<std::string, int> first_line;  // duplicate keys within the file
  for (const ConfigEntry& e : entries) {
    Item item{e.path, e.section ? nullptr : &e.value, {}, Origin{source_name, e.line}};
    if (e.section) {
      open_section(st, item);
      continue;
    }
    auto [it, fresh] = first_line.emplace(e.path, e.line);
    if (!fresh) fail(item, "set twice (first at line " + std::to_string(it->second) + ")");
    apply(st, item);
  }
  seed_default_team(st);

  for (const std::string& o : overrides) {
    const Origin origin{"override '" + o + "'", 0, {SettingOrigin::Kind::override, "--set " + o}};
    const auto eq = o.find('=');
    if (eq == std::string::npos) fail(origin, "", "expected key=value, e.g. actinfer.backend=cuda");
    apply_text(st, o.substr(0, eq), o.substr(eq + 1), origin);
  }
  for (const FlagSetting& f : flags)
    apply_text(st, f.key, f.value, Origin{"flag '" + f.flag + " " + f.value + "'", 0, {SettingOrigin::Kind::flag, f.flag + " " + f.value}});
  if (!overrides.empty())
    st.cfg.source += " (with " + std::to_string(overrides.size()) + " override" + (overrides.size() == 1 ? "" : "s") + ")";
  if (!flags.empty()) {
    st.cfg.source += ", flags";
    for (const FlagSetting& f : flags) st.cfg.source += " " + f.flag;
  }
  finish(st);
  return st.cfg;
}

DeploymentConfig load_deployment_config(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                                        const std::vector<FlagSetting>& flags) {
  return parse_deployment_config(read_config_file(file), file.string(), overrides, flags);
}

ConfigSearch ConfigSearch::from_environment(std::filesystem::path project_default) {
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  return {env("ACTINFER_CONFIG"), env("XDG_CONFIG_HOME"), env("HOME"), std::move(project_default)};
}

std::optional<std::filesystem::path> find_config(const ConfigSearch& s) {
  namespace fs = std::filesystem;
  if (!s.env_config.empty()) {
    if (!fs::exists(s.env_config))
      throw ConfigError("ACTINFER_CONFIG names '" + s.env_config + "', which does not exist", s.env_config);
    return fs::path(s.env_config);
  }
  std::error_code ec;
  const fs::path user_dir = !s.xdg_config_home.empty() ? fs::path(s.xdg_config_home)
                            : !s.home.empty()          ? fs::path(s.home) / ".config"
                                                       : fs::path();
  if (!user_dir.empty() && fs::exists(user_dir / "actinfer" / "actinfer.conf", ec)) return user_dir / "actinfer" / "actinfer.conf";
  if (!s.project_default.empty() && fs::exists(s.project_default, ec)) return s.project_default;
  return std::nullopt;
}

uint64_t parse_byte_size(std::string_view text) {
  std::string_view s = trim(text);
  auto bad = [&](const std::string& why) -> void {
    throw ConfigError("invalid byte size '" + std::string(text) + "': " + why);
  };
  if (s.empty()) bad("empty (expected e.g. \"8GiB\", \"512 MiB\" or \"0\")");
  if (s.front() == '-') bad("must not be negative");
  if (s.front() == '+') s.remove_prefix(1);
  size_t i = 0;
  unsigned __int128 whole = 0;
  const unsigned __int128 limit = std::numeric_limits<uint64_t>::max();
  size_t int_digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    whole = whole * 10 + static_cast<unsigned>(s[i] - '0');
    if (whole > limit) bad("too large");
    ++i, ++int_digits;
  }
  unsigned __int128 frac = 0, frac_scale = 1;
  size_t frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      if (frac_digits < 18) frac = frac * 10 + static_cast<unsigned>(s[i] - '0'), frac_scale *= 10;
      ++i, ++frac_digits;
    }
  }
  if (int_digits == 0 && frac_digits == 0) bad("expected a number followed by an optional unit, e.g. \"8GiB\"");
  std::string unit = normalized(trim(s.substr(i)));
  static const std::vector<std::pair<std::string_view, uint64_t>> units = {
      {"", 1},
      {"b", 1},
      {"k", 1ull << 10},
      {"kib", 1ull << 10},
      {"kb", 1000ull},
      {"m", 1ull << 20},
      {"mib", 1ull << 20},
      {"mb", 1000000ull},
      {"g", 1ull << 30},
      {"gib", 1ull << 30},
      {"gb", 1000000000ull},
      {"t", 1ull << 40},
      {"tib", 1ull << 40},
      {"tb", 1000000000000ull},
  };
  uint64_t mult = 0;
  for (auto& [name, m] : units)
    if (unit == name) mult = m;
  if (mult == 0)
    bad("unknown unit '" + std::string(trim(s.substr(i))) +
        "' (expected B, KiB, MiB, GiB, TiB (or K, M, G, T: powers of 1024) or KB, MB, GB, TB: powers of 1000)");
  unsigned __int128 total = whole * mult + frac * mult / frac_scale;
  if (total > limit) bad("too large");
  return static_cast<uint64_t>(total);
}

std::string format_byte_size(uint64_t bytes) {
  // The exact form with the smaller number: binary units win ties.
  static const char* binary[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  static const char* decimal[] = {"B", "KB", "MB", "GB", "TB"};
  uint64_t b = bytes, d = bytes;
  int ub = 0, ud = 0;
  while (ub < 4 && b != 0 && b % 1024 == 0) b /= 1024, ++ub;
  while (ud < 4 && d != 0 && d % 1000 == 0) d /= 1000, ++ud;
  if (d < b) return std::to_string(d) + " " + decimal[ud];
  return std::to_string(b) + " " + binary[ub];
}

static std::string threads_text(int n) {
  if (n == 0) return "one thread per core";
  return std::to_string(n) + (n == 1 ? " thread" : " threads");
}

std::string describe(const DeploymentConfig& c) {
  std::ostringstream os;
  os << "deployment config: " << (c.source.empty() ? "(defaults)" : c.source) << "\n";
  os << "  runtime          " << to_string(c.runtime) << "\n";
  os << "  topology         " << c.topology << "\n";
  os << "  backend          " << to_string(c.backend);
  if (c.backend == BackendKind::cuda) {
    os << " (device " << c.gpu_device << ", VRAM budget "
       << (c.vram_budget == 0 ? std::string("unlimited")
                              : format_byte_size(c.vram_budget) + " = " + std::to_string(c.vram_budget) + " bytes")
       << ")\n";
  } else {
    os << " (gpu-worker on "
       << threads_text(c.engine.n_threads)
       << ", "
       << (!c.host_pus.empty() ? "pinned to cores " + format_cpu_list(c.host_pus)
                               : c.host_pinning == HostPinning::off ? std::string("unpinned")
                                                                    : std::string("pinned one per core when they take every core"));
    if (c.vram_budget != 0) os << ", budget " << format_byte_size(c.vram_budget);
    os << ")\n";
  }
  os << "  hot neurons      ";
  if (!c.placement.empty())
    os << "from placement file " << c.placement << " (hot-fraction " << c.hot_fraction << " unused)\n";
  else
    os << "first " << c.hot_fraction * 100.0 << "% of each layer's FFN neurons on the gpu-worker\n";
  os << "  FFN kernels      "
     << (c.sparse ? "sparse (neuron bundles, per-token active lists); dense above " + std::to_string(c.sparse_dense_crossover) +
                        " tokens per step (sparse-dense-crossover; cuda backend: always sparse)"
                  : std::string("dense (masked)"))
     << "\n";
  os << "  predictor        " << to_string(c.predictor) << (c.predictors.empty() ? "" : ", predictors " + c.predictors)
     << (c.profile.empty() ? "" : ", thresholds from " + c.profile) << (c.check_recall ? ", recall checked" : "") << "\n";
  os << "  cpu teams        " << c.teams.size() << "\n";
  for (size_t i = 0; i < c.teams.size(); ++i) {
    const TeamConfig& t = c.teams[i];
    os << "    team " << i << ": NUMA node " << t.numa_node << ", cores "
       << (t.pus.empty() ? std::string("all of the node's") : format_cpu_list(t.pus)) << ", "
       << threads_text(t.threads) << "\n";
  }
  os << "  ctx              " << c.engine.n_ctx << " (KV cache positions; "
     << (c.ctx_origin.kind == SettingOrigin::Kind::built_in
             ? (c.ctx_origin.where.empty() ? std::string("built-in default") : c.ctx_origin.where)
             : "from " + c.ctx_origin.where) << ")\n";
  os << "  weights          " << (c.mmap ? "mapped from the file" : "read into huge pages (mmap = false)") << "\n";
  os << "  cache type       " << kv_cache_type_name(c.engine.cache_type) << " (KV cache elements)\n";
  os << "  prompt step      " << c.engine.max_batch << " tokens per forward step (-b)\n";
  os << "  batch            " << c.batch << " (sequence slots of serve)\n";
  os << "  trace            " << (c.trace.empty() ? std::string("off") : c.trace) << "\n";
  os << "  CAF scheduler    " << to_string(c.scheduler_policy) << ", max " << c.scheduler_threads << " threads\n";
  return os.str();
}

}  // namespace actinfer
