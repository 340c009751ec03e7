#include "config/config_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <sstream>

namespace actinfer {

std::string_view ConfigValue::type_name() const {
  switch (kind) {
    case Kind::string: return "string";
    case Kind::atom: return "atom";
    case Kind::integer: return "integer";
    case Kind::real: return "real";
    case Kind::boolean: return "boolean";
    case Kind::list: return "list";
  }
  return "?";
}

std::string ConfigValue::to_string() const {
  switch (kind) {
    case Kind::string: return "\"" + text + "\"";
    case Kind::atom: return "'" + text + "'";
    case Kind::integer: return std::to_string(integer);
    case Kind::real: {
      std::ostringstream os;
      os << real;
      return os.str();
    }
    case Kind::boolean: return boolean ? "true" : "false";
    case Kind::list: {
      std::string out = "[";
      for (size_t i = 0; i < list.size(); ++i) out.append(i ? ", " : "").append(list[i].to_string());  // depth <= kMaxConfigDepth
      return out + "]";
    }
  }
  return "?";
}

namespace {

bool is_key_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
}

std::string describe_char(char ch) {
  switch (ch) {
    case '\0': return "end of input";
    case '\n': return "end of line";
    case '\t': return "tab";
    default: break;
  }
  if (std::isprint(static_cast<unsigned char>(ch))) return std::string("'") + ch + "'";
  char buf[16];
  std::snprintf(buf, sizeof buf, "byte 0x%02x", static_cast<unsigned char>(ch));
  return buf;
}

ConfigValue list_value() {
  ConfigValue v;
  v.kind = ConfigValue::Kind::list;
  return v;
}

const char* const kValueHint =
    "strings need double quotes (\"host\"), atoms single quotes ('sharing'), sizes are strings (\"8GiB\"), "
    "lists use brackets ([0, 1])";

// One pass over the text. Position, line and line start advance together, so no error
// or key ever counts newlines from the start (that was quadratic).
class Reader {
 public:
  Reader(std::string_view text, const std::string& source) : t_(text), source_(source) {}

  std::vector<ConfigEntry> run() {
    refuse_control_bytes();
    while (true) {
      skip_blank();
      if (at_end()) break;
      const char c = peek();
      if (c == '[')
        read_header();
      else if (is_key_char(c))
        read_entry(section_ + ".");
      else
        fail("syntax error at " + describe_char(c), "expected a [section] header or key = value");
    }
    return std::move(out_);
  }

 private:
  struct Frame {
    bool is_map = false;
    std::string path;   // the map's path, or the key a list belongs to
    ConfigValue list;   // the list being built
    int line = 0;       // line of that key
  };

  std::string_view t_;
  const std::string& source_;
  size_t i_ = 0;
  int line_ = 1;
  size_t line_start_ = 0;
  std::string section_ = "global";
  std::string key_;  // the key whose value is being read, for messages
  std::vector<ConfigEntry> out_;

  bool at_end() const { return i_ >= t_.size(); }
  char peek() const { return at_end() ? '\0' : t_[i_]; }
  void advance() {
    if (t_[i_] == '\n') {
      ++line_;
      line_start_ = i_ + 1;
    }
    ++i_;
  }

  [[noreturn]] void fail(const std::string& what, const std::string& hint = {}) const {
    size_t line_end = t_.find('\n', line_start_);
    if (line_end == std::string_view::npos) line_end = t_.size();
    const std::string_view line_text = t_.substr(line_start_, line_end - line_start_);
    const size_t column = std::min(i_, line_end) - line_start_ + 1;
    std::string msg = source_ + ":" + std::to_string(line_) + ":" + std::to_string(column) + ": ";
    if (!key_.empty()) msg += key_ + ": ";
    msg += what;
    if (!hint.empty()) msg += "; " + hint;
    msg += "\n  " + std::string(line_text) + "\n  " + std::string(column - 1, ' ') + "^";
    throw ConfigError(msg, source_, line_, key_);
  }

  // NUL bytes (a binary file, or text cut by a NUL that would silently end a C string)
  // and carriage returns are refused up front, with their line.
  void refuse_control_bytes() {
    const size_t bad = t_.find_first_of(std::string_view("\0\r", 2));
    if (bad == std::string_view::npos) return;
    while (i_ < bad) advance();
    if (t_[bad] == '\0') fail("NUL byte in the file", "a config file is text; is this the right file?");
    fail("carriage return", "Windows line endings are not accepted, save the file with '\\n' line endings");
  }

  void skip_spaces() {
    while (!at_end() && (peek() == ' ' || peek() == '\t')) advance();
  }
  void skip_comment() {
    if (peek() == '#') fail("syntax error at '#'", "comments start with ';' in these config files, '#' is not a comment");
    if (peek() != ';') return;
    while (!at_end() && peek() != '\n') advance();
  }
  // Spaces, comments and newlines.
  void skip_blank() {
    while (true) {
      skip_spaces();
      skip_comment();
      if (at_end() || peek() != '\n') return;
      advance();
    }
  }
  // After a header or a top-level value: nothing but a comment up to the end of the line.
  void end_of_line(const char* what_came) {
    skip_spaces();
    skip_comment();
    if (at_end() || peek() == '\n') return;
    size_t end = i_;
    while (end < t_.size() && !std::isspace(static_cast<unsigned char>(t_[end]))) ++end;
    fail("syntax error: unexpected '" + std::string(t_.substr(i_, end - i_)) + "' after the " + what_came,
         std::string(what_came) == "value" ? kValueHint : "one header or key = value per line");
  }

  std::string read_key() {
    const size_t begin = i_;
    while (!at_end() && is_key_char(peek())) advance();
    return std::string(t_.substr(begin, i_ - begin));
  }

  void read_header() {
    key_.clear();
    const int line = line_;
    advance();  // '['
    skip_spaces();
    const size_t begin = i_;
    while (!at_end() && (is_key_char(peek()) || peek() == '.')) advance();
    std::string name(t_.substr(begin, i_ - begin));
    skip_spaces();
    if (peek() != ']')
      fail("syntax error at " + describe_char(peek()) + " in a section header",
           "a header is [name] or [name.sub], closed with ']' on the same line");
    if (name.empty() || name.front() == '.' || name.back() == '.' || name.find("..") != std::string::npos)
      fail("invalid section name '" + name + "'", "a header is [name] or [name.sub]");
    advance();  // ']'
    end_of_line("section header");
    section_ = name;
    out_.push_back(ConfigEntry{true, name, {}, line});
  }

  // After a key: ` = ` (the value follows) or the `{` of a map, which stays to be read.
  void skip_separator() {
    skip_spaces();
    if (peek() == '=') {
      advance();
      skip_spaces();
    } else if (peek() != '{') {
      fail("syntax error at " + describe_char(peek()) + " after the key", "expected key = value");
    }
  }

  // key = value, or key { ... }, with `prefix` ("actinfer.") before the key.
  void read_entry(const std::string& prefix) {
    key_.clear();
    const int line = line_;
    const std::string key = read_key();
    if (peek() == '.')
      fail("syntax error at '.' in key '" + key + "'",
           "keys cannot contain '.', write a section header such as [actinfer.team.0] instead");
    key_ = prefix + key;
    skip_separator();
    read_value(key_, line);
    end_of_line("value");
    key_.clear();
  }

  void push(std::vector<Frame>& stack, Frame frame) {
    if (stack.size() >= kMaxConfigDepth)
      fail("lists and maps nested deeper than " + std::to_string(kMaxConfigDepth) + " levels");
    stack.push_back(std::move(frame));
  }

  // Hands a finished value to the list being built, or emits it.
  void deliver(std::vector<Frame>& stack, ConfigValue value, const std::string& path, int line) {
    if (!stack.empty() && !stack.back().is_map)
      stack.back().list.list.push_back(std::move(value));
    else
      out_.push_back(ConfigEntry{false, path, std::move(value), line});
  }

  [[noreturn]] void unexpected_end(const std::vector<Frame>& stack) {
    const Frame& f = stack.back();
    fail("unexpected end of input while reading " + f.path + " (line " + std::to_string(f.line) + ")",
         f.is_map ? "a { map } is not closed with '}'" : "a [list] is not closed with ']'");
  }

  // One value (scalar, list or map), nested values included, with an explicit stack
  // instead of recursion.
  void read_value(std::string path, int line) {
    enum class Want { value, after_value, map_key };
    std::vector<Frame> stack;
    Want want = Want::value;
    while (true) {
      if (want == Want::value) {
        if (!stack.empty()) skip_blank();
        const char c = peek();
        if (c == '[') {
          push(stack, Frame{false, path, list_value(), line});
          advance();
          skip_blank();
          if (peek() == ']') {
            advance();
            Frame f = std::move(stack.back());
            stack.pop_back();
            deliver(stack, std::move(f.list), f.path, f.line);
            want = Want::after_value;
          }
          continue;
        }
        if (c == '{') {
          if (!stack.empty() && !stack.back().is_map) fail("a { map } inside a list is not supported");
          push(stack, Frame{true, path, {}, line});
          out_.push_back(ConfigEntry{true, path, {}, line});
          advance();
          want = Want::map_key;
          continue;
        }
        if (at_end() && !stack.empty()) unexpected_end(stack);
        deliver(stack, read_scalar(), path, line);
        want = Want::after_value;
        continue;
      }
      if (want == Want::map_key) {
        skip_blank();
        if (at_end()) unexpected_end(stack);
        if (peek() == ',') {
          advance();
          continue;
        }
        if (peek() == '}') {
          advance();
          stack.pop_back();
          want = Want::after_value;
          continue;
        }
        if (!is_key_char(peek())) fail("syntax error at " + describe_char(peek()) + " in a { map }", "expected key = value or '}'");
        line = line_;
        const std::string key = read_key();
        if (peek() == '.') fail("syntax error at '.' in key '" + key + "'", "keys cannot contain '.'");
        path = stack.back().path + "." + key;
        key_ = path;
        skip_separator();
        want = Want::value;
        continue;
      }
      // after_value
      if (stack.empty()) return;
      if (stack.back().is_map) {
        skip_spaces();
        skip_comment();
        if (at_end() || peek() == ',' || peek() == '\n' || peek() == '}') {
          want = Want::map_key;
          continue;
        }
        fail("syntax error: unexpected " + describe_char(peek()) + " after the value", "separate map entries with ',' or a new line");
      }
      skip_blank();
      if (at_end()) unexpected_end(stack);
      if (peek() == ',') {
        advance();
        skip_blank();
        if (peek() != ']') {
          want = Want::value;
          continue;
        }
      }
      if (peek() == ']') {
        advance();
        Frame f = std::move(stack.back());
        stack.pop_back();
        deliver(stack, std::move(f.list), f.path, f.line);
        continue;
      }
      fail("syntax error at " + describe_char(peek()) + " in a list", "separate list elements with ','");
    }
  }

  ConfigValue read_quoted(char quote, ConfigValue::Kind kind) {
    ConfigValue v;
    v.kind = kind;
    advance();
    while (true) {
      if (at_end() || peek() == '\n')
        fail(std::string("unterminated ") + (quote == '"' ? "string" : "atom"),
             std::string("close it with '") + quote + "' on the same line");
      char c = peek();
      advance();
      if (c == quote) return v;
      if (c == '\\') {
        if (at_end() || peek() == '\n') continue;  // reported by the loop
        const char e = peek();
        advance();
        switch (e) {
          case 'n': c = '\n'; break;
          case 't': c = '\t'; break;
          case '\\': case '"': case '\'': c = e; break;
          default: fail(std::string("unknown escape '\\") + e + "'", "known: \\\" \\\\ \\n \\t");
        }
      }
      v.text += c;
    }
  }

  ConfigValue read_scalar() {
    const char c = peek();
    if (c == '"') return read_quoted('"', ConfigValue::Kind::string);
    if (c == '\'') return read_quoted('\'', ConfigValue::Kind::atom);
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.') {
      const size_t begin = i_;
      bool real = false;
      while (!at_end()) {
        const char d = peek();
        const bool exponent_sign = (d == '-' || d == '+') && i_ > begin && (t_[i_ - 1] == 'e' || t_[i_ - 1] == 'E');
        if (std::isdigit(static_cast<unsigned char>(d)) || (i_ == begin && (d == '-' || d == '+')) || exponent_sign) {
        } else if (d == '.' || ((d == 'e' || d == 'E') && i_ > begin && std::isdigit(static_cast<unsigned char>(t_[i_ - 1])))) {
          real = true;
        } else {
          break;
        }
        advance();
      }
      std::string_view s = t_.substr(begin, i_ - begin);
      if (!s.empty() && s.front() == '+') s.remove_prefix(1);
      ConfigValue v;
      v.kind = real ? ConfigValue::Kind::real : ConfigValue::Kind::integer;
      const auto [p, ec] = real ? std::from_chars(s.data(), s.data() + s.size(), v.real)
                                : std::from_chars(s.data(), s.data() + s.size(), v.integer);
      if (ec == std::errc::result_out_of_range) fail("number '" + std::string(s) + "' out of range");
      if (s.empty() || ec != std::errc() || p != s.data() + s.size())
        fail("invalid number '" + std::string(t_.substr(begin, i_ - begin)) + "'", kValueHint);
      return v;
    }
    if (std::isalpha(static_cast<unsigned char>(c))) {
      const size_t begin = i_, line_start = line_start_;
      const std::string word = read_key();
      if (word == "true" || word == "false") {
        ConfigValue v;
        v.kind = ConfigValue::Kind::boolean;
        v.boolean = word == "true";
        return v;
      }
      i_ = begin;  // point at the word
      line_start_ = line_start;
    }
    fail("syntax error at " + describe_char(c), kValueHint);
  }
};

// Closes the descriptor on every path.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

std::string file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

}  // namespace

std::vector<ConfigEntry> read_config_text(std::string_view text, const std::string& source) {
  return Reader(text, source).run();
}

std::string read_config_file(const std::filesystem::path& file) {
  const std::string name = file.string();
  auto refuse = [&](const std::string& why) -> void {
    throw ConfigError("deployment config '" + name + "': " + why, name);
  };
  struct stat st {};
  if (::stat(name.c_str(), &st) != 0) refuse(std::string("cannot open: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) refuse("is " + file_kind(st.st_mode) + "; only a regular file is read as a config");
  auto too_large = [&] {
    refuse("larger than " + std::to_string(kMaxConfigBytes >> 20) + " MiB; a config is a few KiB, is this the right file?");
  };
  if (static_cast<uint64_t>(st.st_size) > kMaxConfigBytes) too_large();
  // Non-blocking: should the path be swapped for a FIFO after the stat, open still returns.
  Fd fd{::open(name.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)};
  if (fd.fd < 0) refuse(std::string("cannot open: ") + std::strerror(errno));
  if (::fstat(fd.fd, &st) != 0 || !S_ISREG(st.st_mode)) refuse("is " + file_kind(st.st_mode) + "; only a regular file is read as a config");
  std::string text;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(fd.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) refuse(std::string("cannot read: ") + std::strerror(errno));
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxConfigBytes) too_large();
  }
  return text;
}

}  // namespace actinfer
