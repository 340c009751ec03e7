// A one-line progress bar on stderr with the elapsed time and an ETA, redrawn in
// place ("[actinfer] [#####.....] detail  12.3s elapsed, ETA 4m05s"); a newline once
// the last step is reached.
#pragma once
#include <chrono>
#include <string>

namespace actinfer::tools {

class ProgressBar {
 public:
  ProgressBar();
  // `done` of `total` steps; redraws at most ten times a second, and always at the end.
  void update(double done, double total, const std::string& detail);

 private:
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

}  // namespace actinfer::tools
