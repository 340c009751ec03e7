#include "tools/progress_bar.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "tools/interrupt.h"
#include "tools/text_input.h"

namespace actinfer::tools {

ProgressBar::ProgressBar(bool quiet)
    : start_(std::chrono::steady_clock::now()), last_draw_(start_), quiet_(quiet), terminal_(::isatty(STDERR_FILENO) == 1) {}

void ProgressBar::update(double done, double total, const std::string& detail) {
  interrupt::throw_if_requested();
  if (quiet_) return;
  const auto now = std::chrono::steady_clock::now();
  const bool end = done >= total;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double frac = total > 0 ? std::clamp(done / total, 0.0, 1.0) : 1.0;
  const std::string eta = frac > 0 ? format_duration(elapsed / frac * (1 - frac)) : "?";
  if (!terminal_) {
    const int tenth = static_cast<int>(frac * 10 + 1e-9);
    if (tenth <= last_tenth_) return;
    last_tenth_ = tenth;
    std::fprintf(stderr, "[actinfer] %3d%% %s  %s elapsed, ETA %s\n", tenth * 10, detail.c_str(), format_duration(elapsed).c_str(), eta.c_str());
    return;
  }
  if (!end && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  drawn_ = true;
  last_draw_ = now;
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(kWidth * frac);
  std::fprintf(stderr, "\r[actinfer] [%s%s] %s  %s elapsed, ETA %s   ", std::string(static_cast<size_t>(filled), '#').c_str(),
               std::string(static_cast<size_t>(kWidth - filled), '.').c_str(), detail.c_str(), format_duration(elapsed).c_str(), eta.c_str());
  if (end) std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace actinfer::tools
