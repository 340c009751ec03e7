// Internal to the lane-exact kernels (kernels/gemm_lane_rows_*.cpp): each token's per-block
// activation data (W::Act: scales, sums), prepared once per call for up to kMaxTok tokens and
// read by every row group; on the stack for rows of up to kStackBlocks blocks.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace actinfer::kernels {

template <class W, int kMaxTok>
class LaneActs {
 public:
  using Act = typename W::Act;
  explicit LaneActs(int64_t nb) : nb_(nb) {
    if (nb > kStackBlocks) {
      heap_ = std::make_unique_for_overwrite<Act[]>(static_cast<size_t>(kMaxTok * nb));
      data_ = heap_.get();
    }
  }
  LaneActs(const LaneActs&) = delete;
  LaneActs& operator=(const LaneActs&) = delete;

  // Slot t (< kMaxTok) filled from the activation row a: its nb blocks' Act.
  const Act* prepare(int t, const uint8_t* a) {
    Act* x = data_ + static_cast<size_t>(t) * static_cast<size_t>(nb_);
    for (int64_t b = 0; b < nb_; ++b) x[b] = W::prepare(a + static_cast<size_t>(b) * W::kActBytes);
    return x;
  }

 private:
  static constexpr int64_t kStackBlocks = 64;
  std::array<Act, kMaxTok * kStackBlocks> stack_;
  std::unique_ptr<Act[]> heap_;
  Act* data_ = stack_.data();
  int64_t nb_;
};

}  // namespace actinfer::kernels
