// Deployment-config loader. The text is parsed by CAF 0.17's own config parser
// (caf::detail::parser::read_ini, the one actor_system_config::parse uses), fed
// into a consumer of ours that flattens every section and key into a dotted
// path ("actinfer.team.1.threads") and remembers its line. CAF would then
// silently drop unknown or wrong-typed keys; here every path is checked against
// the schema below and every value's type and range is checked, so a typo is an
// error naming the file, line and key.
//
// Only three section families exist: [actinfer], [actinfer.team.<N>] and CAF's
// own [scheduler] (policy, max-threads; the runtime hands them to CAF). Any
// other section is an error; to admit another CAF section, add its keys to a
// schema table below.
#include "config/deployment_config.h"

#include <caf/config_value.hpp>
#include <caf/detail/ini_consumer.hpp>
#include <caf/detail/parser/read_ini.hpp>
#include <caf/parser_state.hpp>
#include <caf/pec.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace actinfer {
namespace {

// ---------------------------------------------------------------------------
// Where a value came from.

struct Origin {
  std::string source;  // file or source name, or "override 'key=value'"
  int line = 0;        // 1-based; 0 for overrides and defaults
  std::string where() const { return line > 0 ? source + ":" + std::to_string(line) : source; }
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
// CAF parser front end.

using ParserState = caf::parser_state<const char*, const char*>;

struct Event {
  bool section = false;  // a section header or `key = { ... }` map opened at `path`
  std::string path;      // dotted path
  caf::config_value value;
  int line = 0;
};

struct Collector {
  const char* begin = nullptr;
  const ParserState* ps = nullptr;
  std::vector<Event> events;
  std::string last_key;  // for syntax-error messages
  int last_key_line = 0;
  bool any_section = false;
  // CAF quirk: text after a value on the same line (`vram-budget = 8GiB`)
  // ends the value and starts a key of an implicit [global] section; the
  // parse may even succeed. Where that happened, and after which key.
  const char* stray = nullptr;
  std::string stray_after_key;
  int stray_after_line = 0;

  int line_at(const char* p) const { return 1 + static_cast<int>(std::count(begin, p, '\n')); }
  int current_line() const { return line_at(ps->i); }
};

// Flattens sections, nested sections ([a.b.c]) and map values (k = {..})
// into dotted paths. Lists are built by CAF's own ini_list_consumer, which
// hands the finished list back through value_impl.
class PathConsumer : public caf::detail::abstract_ini_consumer {
 public:
  PathConsumer(Collector* c, std::string prefix)
      : caf::detail::abstract_ini_consumer(nullptr), c_(c), prefix_(std::move(prefix)) {}
  PathConsumer(PathConsumer&& other) noexcept
      : caf::detail::abstract_ini_consumer(nullptr),
        c_(other.c_),
        prefix_(std::move(other.prefix_)),
        key_(std::move(other.key_)),
        key_line_(other.key_line_) {}

  void key(std::string name) {
    key_ = std::move(name);
    key_line_ = c_->current_line();
    if (prefix_.empty()) return;  // a section name, not a key
    c_->last_key = prefix_ + key_;
    c_->last_key_line = key_line_;
  }

  // Hides abstract_ini_consumer::begin_map: nested maps stay flat paths.
  PathConsumer begin_map() {
    std::string path = prefix_ + key_;
    if (prefix_.empty()) {
      // Top level: a section header, or CAF's implicit [global] section, which
      // after a real section means stray text after a value.
      bool header = c_->ps->current() == ']' || c_->ps->current() == '.';
      if (path == "global" && !header && c_->any_section && !c_->stray) {
        c_->stray = c_->ps->i;
        c_->stray_after_key = c_->last_key;
        c_->stray_after_line = c_->last_key_line;
      }
      c_->any_section = true;
    }
    c_->events.push_back(Event{true, path, {}, key_line_ > 0 ? key_line_ : c_->current_line()});
    return PathConsumer(c_, path + ".");
  }

  void end_map() {}

  void value_impl(caf::config_value&& x) override {
    c_->events.push_back(Event{false, prefix_ + key_, std::move(x), key_line_});
  }

 private:
  Collector* c_;
  std::string prefix_;
  std::string key_;
  int key_line_ = 0;
};

std::string describe_char(char ch) {
  switch (ch) {
    case '\0': return "end of input";
    case '\n': return "end of line";
    case '\r': return "carriage return";
    case '\t': return "tab";
    default: break;
  }
  if (std::isprint(static_cast<unsigned char>(ch))) return std::string("'") + ch + "'";
  char buf[16];
  std::snprintf(buf, sizeof buf, "byte 0x%02x", static_cast<unsigned char>(ch));
  return buf;
}

[[noreturn]] void syntax_error(std::string_view text, const std::string& source, const Collector& c,
                               const ParserState& ps) {
  const char* pos = c.stray ? c.stray : ps.i;
  int line = c.line_at(pos);
  const char* line_begin = pos;
  while (line_begin > text.data() && line_begin[-1] != '\n') --line_begin;
  const char* line_end = pos;
  while (line_end < text.data() + text.size() && *line_end != '\n') ++line_end;
  int column = static_cast<int>(pos - line_begin) + 1;
  char ch = pos < text.data() + text.size() ? *pos : '\0';
  std::string_view line_text(line_begin, static_cast<size_t>(line_end - line_begin));
  auto eq = line_text.find('=');
  bool in_value = eq != std::string_view::npos && static_cast<size_t>(column - 1) > eq;

  std::string key = (c.last_key_line == line && in_value) ? c.last_key : std::string();
  if (c.stray && c.stray_after_line == line) key = c.stray_after_key;
  std::string msg = source + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
  if (!key.empty()) msg += key + ": ";
  if (c.stray) {
    const char* end = pos;
    while (end < line_end && !std::isspace(static_cast<unsigned char>(*end))) ++end;
    msg += "syntax error: unexpected '" + std::string(pos, end) + "' after the value";
  } else {
    msg += "syntax error at " + describe_char(ch) + " (CAF's parser: " + caf::to_string(ps.code) + ")";
  }
  if (ps.code == caf::pec::unexpected_eof && key.empty() && !c.last_key.empty())
    msg += " while reading " + c.last_key + " (line " + std::to_string(c.last_key_line) + ")";
  if (ch == '#')
    msg += "; comments start with ';' in CAF config files, '#' is not a comment";
  else if (ch == '\r')
    msg += "; Windows line endings are not accepted, save the file with '\\n' line endings";
  else if (ps.code == caf::pec::unexpected_eof)
    msg += "; unterminated string, list or section header?";
  else if (ch == '.' && !in_value)
    msg += "; keys cannot contain '.', write a section header such as [actinfer.team.0] instead";
  else if (in_value && std::count(line_begin, pos, '"') % 2 == 1)
    msg += "; unterminated string: close it with '\"' on the same line";
  else if (in_value)
    msg += "; strings need double quotes (\"host\"), atoms single quotes ('sharing'), "
           "sizes are strings (\"8GiB\"), lists use brackets ([0, 1])";
  msg += "\n  " + std::string(line_text) + "\n  " + std::string(static_cast<size_t>(column - 1), ' ') + "^";
  throw ConfigError(msg, source, line, key);
}

std::vector<Event> parse_caf_config(std::string_view text, const std::string& source) {
  Collector collector;
  collector.begin = text.data();
  ParserState ps(text.data(), text.data() + text.size());
  collector.ps = &ps;
  PathConsumer top(&collector, "");
  caf::detail::parser::read_ini(ps, top);
  if (ps.code != caf::pec::success || collector.stray) syntax_error(text, source, collector, ps);
  return std::move(collector.events);
}

// ---------------------------------------------------------------------------
// Values: typed by CAF's parser (file) or plain text (override).

struct Item {
  std::string key;
  const caf::config_value* cv = nullptr;  // from the file
  std::string text;                       // from an override (cv == nullptr)
  Origin origin;
};

[[noreturn]] void fail(const Item& item, const std::string& message) { fail(item.origin, item.key, message); }

std::string shown(const Item& item) {
  if (item.cv) return std::string(item.cv->type_name()) + " " + caf::to_string(*item.cv);
  return "'" + item.text + "'";
}

// Override text: surrounding quotes (as in actinfer.backend="cuda") are optional.
std::string unquoted(std::string_view s) {
  s = trim(s);
  if (s.size() >= 2 && (s.front() == '"' || s.front() == '\'') && s.back() == s.front())
    s = s.substr(1, s.size() - 2);
  return std::string(s);
}

std::string get_string(const Item& item, bool allow_atom) {
  if (!item.cv) return unquoted(item.text);
  if (auto* s = caf::get_if<std::string>(item.cv)) return *s;
  if (allow_atom)
    if (auto* a = caf::get_if<caf::atom_value>(item.cv)) return caf::to_string(*a);
  fail(item, "expected a string in double quotes, got " + shown(item));
}

std::string join(const std::vector<std::string_view>& words, std::string_view last_sep = " or ") {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += (i + 1 == words.size()) ? std::string(last_sep) : std::string(", ");
    out += words[i];
  }
  return out;
}

std::string get_choice(const Item& item, const std::vector<std::string_view>& allowed) {
  std::string value = get_string(item, true);
  if (std::find(allowed.begin(), allowed.end(), value) == allowed.end())
    fail(item, "unknown value '" + value + "' (expected " + join(allowed) + ")");
  return value;
}

// CAF reads scheduler.policy only as an atom: a string there is silently
// ignored by CAF, so the file must use 'single quotes'.
std::string get_atom_choice(const Item& item, const std::vector<std::string_view>& allowed) {
  std::string value;
  if (!item.cv) {
    value = unquoted(item.text);
  } else if (auto* a = caf::get_if<caf::atom_value>(item.cv)) {
    value = caf::to_string(*a);
  } else if (auto* s = caf::get_if<std::string>(item.cv)) {
    fail(item, "expected an atom in single quotes such as '" + *s +
                   "' (CAF ignores a double-quoted string here), got " + shown(item));
  } else {
    fail(item, "expected an atom in single quotes such as '" + std::string(allowed.front()) + "', got " +
                   shown(item));
  }
  if (std::find(allowed.begin(), allowed.end(), value) == allowed.end())
    fail(item, "unknown value '" + value + "' (expected " + join(allowed) + ")");
  return value;
}

bool get_bool(const Item& item) {
  if (item.cv) {
    if (auto* b = caf::get_if<bool>(item.cv)) return *b;
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
    auto* i = caf::get_if<int64_t>(item.cv);
    if (!i) fail(item, "expected an integer, got " + shown(item));
    v = *i;
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
    if (auto* d = caf::get_if<double>(item.cv))
      v = *d;
    else if (auto* i = caf::get_if<int64_t>(item.cv))
      v = static_cast<double>(*i);
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
    if (auto* i = caf::get_if<int64_t>(item.cv)) {
      if (*i < 0) fail(item, "must not be negative, got " + std::to_string(*i));
      return static_cast<uint64_t>(*i);
    }
    if (!caf::get_if<std::string>(item.cv))
      fail(item, "expected a size such as \"8GiB\" or an integer number of bytes, got " + shown(item));
  }
  std::string text = item.cv ? caf::get<std::string>(*item.cv) : unquoted(item.text);
  try {
    return parse_byte_size(text);
  } catch (const ConfigError& e) {
    fail(item, e.what());
  }
}

constexpr int kMaxCpu = 65535;

// "0-3,8,10-11" (Linux cpulist syntax); optional [ ] around it.
std::vector<int> parse_cpu_list_text(const Item& item, std::string_view s) {
  s = trim(s);
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = trim(s.substr(1, s.size() - 2));
  std::vector<int> out;
  if (s.empty()) return out;
  size_t pos = 0;
  auto bad = [&](const std::string& why) -> void {
    fail(item, "invalid core list '" + std::string(s) + "': " + why + " (expected e.g. \"0-3,8,10-11\" or [0, 1, 2])");
  };
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    std::string_view part = trim(s.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos));
    if (part.empty()) bad("empty entry");
    auto dash = part.find('-');
    auto number = [&](std::string_view t) {
      t = trim(t);
      int v = -1;
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (t.empty() || ec != std::errc() || p != t.data() + t.size() || v < 0 || v > kMaxCpu)
        bad("'" + std::string(t) + "' is not a core number 0.." + std::to_string(kMaxCpu));
      return v;
    };
    if (dash == std::string_view::npos) {
      out.push_back(number(part));
    } else {
      int a = number(part.substr(0, dash)), b = number(part.substr(dash + 1));
      if (b < a) bad("range " + std::string(part) + " runs backwards");
      for (int v = a; v <= b; ++v) out.push_back(v);
    }
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out;
}

std::vector<int> get_cpus(const Item& item) {
  std::vector<int> out;
  if (!item.cv) {
    out = parse_cpu_list_text(item, item.text);
  } else if (auto* s = caf::get_if<std::string>(item.cv)) {
    out = parse_cpu_list_text(item, *s);
  } else if (auto* list = caf::get_if<caf::config_value::list>(item.cv)) {
    for (size_t k = 0; k < list->size(); ++k) {
      auto* i = caf::get_if<int64_t>(&(*list)[k]);
      if (!i)
        fail(item, "element " + std::to_string(k) + " of the core list is not an integer: " +
                       caf::to_string((*list)[k]));
      if (*i < 0 || *i > kMaxCpu)
        fail(item, "core " + std::to_string(*i) + " out of range 0.." + std::to_string(kMaxCpu));
      out.push_back(static_cast<int>(*i));
    }
  } else {
    fail(item, "expected a list of core numbers such as [0, 1, 2, 3] or a string such as \"0-3,8\", got " +
                   shown(item));
  }
  std::vector<int> sorted = out;
  std::sort(sorted.begin(), sorted.end());
  auto dup = std::adjacent_find(sorted.begin(), sorted.end());
  if (dup != sorted.end()) fail(item, "core " + std::to_string(*dup) + " is listed twice");
  return out;
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
      {"runtime", [](State& s, TeamState*, const Item& v) { s.cfg.runtime = get_choice(v, {"actors", "dense"}); }},
      {"backend", [](State& s, TeamState*, const Item& v) { s.cfg.backend = get_choice(v, {"host", "cuda"}); }},
      {"topology", [](State& s, TeamState*, const Item& v) { s.cfg.topology = check_topology(v); }},
      {"gpu-device", [](State& s, TeamState*, const Item& v) { s.cfg.gpu_device = get_int(v, 0, 255); }},
      {"vram-budget", [](State& s, TeamState*, const Item& v) { s.cfg.vram_budget_bytes = get_bytes(v); }},
      {"host-threads", [](State& s, TeamState*, const Item& v) { s.cfg.host_threads = get_int(v, 0, 4096); }},
      {"host-cores", [](State& s, TeamState*, const Item& v) { s.cfg.host_cores = get_cpus(v); }},
      {"hot-fraction", [](State& s, TeamState*, const Item& v) { s.cfg.hot_fraction = get_real(v, 0.0, 1.0); }},
      {"placement", [](State& s, TeamState*, const Item& v) { s.cfg.placement = get_string(v, false); }},
      {"predictor", [](State& s, TeamState*, const Item& v) {
         s.cfg.predictor = get_choice(v, {"auto", "oracle", "all", "threshold", "trained"});
       }},
      {"sparse", [](State& s, TeamState*, const Item& v) { s.cfg.sparse = get_bool(v); }},
      {"profile", [](State& s, TeamState*, const Item& v) { s.cfg.profile = get_string(v, false); }},
      {"predictors", [](State& s, TeamState*, const Item& v) { s.cfg.predictors = get_string(v, false); }},
      {"check-recall", [](State& s, TeamState*, const Item& v) { s.cfg.check_recall = get_bool(v); }},
      {"predictor-threads", [](State& s, TeamState*, const Item& v) { s.cfg.predictor_threads = get_int(v, 0, 4096); }},
      {"batch", [](State& s, TeamState*, const Item& v) { s.cfg.batch = get_int(v, 1, 65536); }},
      {"ctx", [](State& s, TeamState*, const Item& v) { s.cfg.ctx = get_int(v, 1, 1 << 24); }},
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
         t->team.cores = get_cpus(v);
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
         s.cfg.scheduler_policy = get_atom_choice(v, {"sharing", "stealing"});
       }},
      {"max-threads", [](State& s, TeamState*, const Item& v) { s.cfg.scheduler_max_threads = get_int(v, 1, 4096); }},
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

void finish(State& st) {
  DeploymentConfig& cfg = st.cfg;
  cfg.teams.clear();
  if (st.teams.empty()) {
    cfg.teams.push_back(TeamConfig{});
    return;
  }
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
    for (int core : team.team.cores) {
      auto [cit, free] = core_owner.emplace(core, index);
      if (!free)
        fail(team.cores_origin, key + ".cores",
             "core " + std::to_string(core) + " is already used by actinfer.team." + std::to_string(cit->second) +
                 " (" + st.teams.at(cit->second).cores_origin.where() + ")");
    }
    cfg.teams.push_back(team.team);
  }
}

}  // namespace

// ---------------------------------------------------------------------------

DeploymentConfig parse_deployment_config(std::string_view text, const std::string& source_name,
                                         const std::vector<std::string>& overrides) {
  State st;
  st.cfg.source = source_name;
  std::vector<Event> events = parse_caf_config(text, source_name);

  std::map<std::string, int> first_line;  // duplicate keys within the file
  for (const Event& e : events) {
    Item item{e.path, e.section ? nullptr : &e.value, {}, Origin{source_name, e.line}};
    if (e.section) {
      open_section(st, item);
      continue;
    }
    auto [it, fresh] = first_line.emplace(e.path, e.line);
    if (!fresh) fail(item, "set twice (first at line " + std::to_string(it->second) + ")");
    apply(st, item);
  }

  for (const std::string& o : overrides) {
    Origin origin{"override '" + o + "'", 0};
    auto eq = o.find('=');
    if (eq == std::string::npos) fail(origin, "", "expected key=value, e.g. actinfer.backend=cuda");
    Item item{std::string(trim(std::string_view(o).substr(0, eq))), nullptr, o.substr(eq + 1), origin};
    if (item.key.empty()) fail(origin, "", "empty key; expected key=value, e.g. actinfer.backend=cuda");
    apply(st, item);
  }
  if (!overrides.empty()) st.cfg.source += " (with " + std::to_string(overrides.size()) + " override" +
                                           (overrides.size() == 1 ? "" : "s") + ")";
  finish(st);
  return st.cfg;
}

DeploymentConfig load_deployment_config(const std::filesystem::path& file, const std::vector<std::string>& overrides) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    int err = errno;
    throw ConfigError("cannot open deployment config '" + file.string() + "': " + std::strerror(err), file.string());
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) throw ConfigError("cannot read deployment config '" + file.string() + "'", file.string());
  return parse_deployment_config(buf.str(), file.string(), overrides);
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

std::string format_cpu_list(const std::vector<int>& cpus) {
  std::vector<int> c = cpus;
  std::sort(c.begin(), c.end());
  c.erase(std::unique(c.begin(), c.end()), c.end());
  std::string out;
  for (size_t i = 0; i < c.size();) {
    size_t j = i;
    while (j + 1 < c.size() && c[j + 1] == c[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(c[i]);
    if (j > i) out.append("-").append(std::to_string(c[j]));  // (not "-" + s: GCC 12 -Wrestrict false positive)
    i = j + 1;
  }
  return out;
}

static std::string threads_text(int n) {
  if (n == 0) return "one thread per core";
  return std::to_string(n) + (n == 1 ? " thread" : " threads");
}

std::string describe(const DeploymentConfig& c) {
  std::ostringstream os;
  os << "deployment config: " << (c.source.empty() ? "(defaults)" : c.source) << "\n";
  os << "  runtime          " << c.runtime << "\n";
  os << "  topology         " << c.topology << "\n";
  os << "  backend          " << c.backend;
  if (c.backend == "cuda") {
    os << " (device " << c.gpu_device << ", VRAM budget "
       << (c.vram_budget_bytes == 0 ? std::string("unlimited")
                                    : format_byte_size(c.vram_budget_bytes) + " = " +
                                          std::to_string(c.vram_budget_bytes) + " bytes")
       << ")\n";
  } else {
    os << " (gpu-worker on "
       << threads_text(c.host_threads)
       << ", " << (c.host_cores.empty() ? std::string("unpinned") : "pinned to cores " + format_cpu_list(c.host_cores));
    if (c.vram_budget_bytes != 0) os << ", budget " << format_byte_size(c.vram_budget_bytes);
    os << ")\n";
  }
  os << "  hot neurons      ";
  if (!c.placement.empty())
    os << "from placement file " << c.placement << " (hot-fraction " << c.hot_fraction << " unused)\n";
  else
    os << "first " << c.hot_fraction * 100.0 << "% of each layer's FFN neurons on the gpu-worker\n";
  os << "  FFN kernels      " << (c.sparse ? "sparse (neuron bundles, per-token active lists)" : "dense (masked)") << "\n";
  os << "  predictor        " << c.predictor << (c.predictors.empty() ? "" : ", predictors " + c.predictors)
     << (c.profile.empty() ? "" : ", thresholds from " + c.profile) << (c.check_recall ? ", recall checked" : "") << "\n";
  os << "  cpu teams        " << c.teams.size() << "\n";
  for (size_t i = 0; i < c.teams.size(); ++i) {
    const TeamConfig& t = c.teams[i];
    os << "    team " << i << ": NUMA node " << t.numa_node << ", cores "
       << (t.cores.empty() ? std::string("all of the node's") : format_cpu_list(t.cores)) << ", "
       << threads_text(t.threads) << "\n";
  }
  os << "  batch            " << c.batch << "\n";
  os << "  ctx              " << c.ctx << "\n";
  os << "  trace            " << (c.trace.empty() ? std::string("off") : c.trace) << "\n";
  os << "  CAF scheduler    " << c.scheduler_policy << ", max " << c.scheduler_max_threads << " threads\n";
  return os.str();
}

}  // namespace actinfer
