// Measures how many float FLOPs per second this machine's cores can do: the
// roofline that prompt speed is judged against (a prompt's matmuls are
// compute-bound, as decode's are bound by memory bandwidth).
#pragma once

namespace actinfer {

struct ComputePeakResult {
  double flops_per_second = 0;  // best of the repeats, all threads together
  int threads = 0;
  int vector_floats = 0;  // lanes of the fused multiply-add the build uses (16 AVX-512, 8 AVX2, 1 none)
};

// Independent fused multiply-add chains in registers on `threads` threads at once, each
// running `iterations` rounds, best of `repeats`. No memory is touched: the figure is the
// arithmetic peak a GEMM can approach, not reach.
ComputePeakResult measure_fma_peak(int threads, int repeats = 5, long iterations = 4'000'000);

}  // namespace actinfer
