// Progress of a long loop on stderr, with the elapsed time and an ETA:
//   - stderr a terminal: one bar redrawn in place
//     ("[actinfer] [#####.....] detail  12.3s elapsed, ETA 4m05s"), a newline at the end;
//   - stderr a file or pipe (logs, CI): one plain line per 10% done, no '\r' frames;
//   - quiet (-q): nothing.
// update() is also where long loops notice Ctrl-C: it throws interrupt::Interrupted
// once a signal has arrived (tools/interrupt.h), so every loop that reports
// progress stops there. Call it from the thread that runs the loop.
#pragma once
#include <chrono>
#include <string>

namespace actinfer::tools {

class ProgressBar {
 public:
  explicit ProgressBar(bool quiet = false);
  // `done` of `total` steps; redraws at most ten times a second, and always at the end.
  void update(double done, double total, const std::string& detail);

 private:
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool quiet_, terminal_;
  bool drawn_ = false;
  int last_tenth_ = 0;  // the last 10% step printed as a line (not a terminal)
};

}  // namespace actinfer::tools
