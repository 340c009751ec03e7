// Blocked float GEMM (kernels/gemm_float.h): F32, F16 and BF16 weight rows with F32 tokens.
//
// The driver walks the rows in groups of kGroupPanels x kMr and, for each group, K in chunks
// of kKc elements: each (kMr rows, chunk) panel is converted to F32 and transposed
// (panel[kk * kMr + j] = w[row j][k0 + kk], zero past the last row), and the tokens are swept
// over the group's panels (in blocks of at most kNr, each block through every panel) by a
// kernel that keeps kMr x kNr accumulators in registers: per k, kMr / lanes vector loads of
// the panel and kNr broadcasts of token elements, from a copy of the tokens made once per
// batch (each tile's tokens one contiguous run). A group of rows is finished before the next
// is started, so its rows' memory pages and streams stay hot (K outermost was 10% slower on
// prompt steps: 32 rows' pages revisited per chunk); the tokens are re-read from L2/L3 once
// per group.
//
// Accumulators start at zero on the first chunk and are reloaded from `out` on the next
// ones, so each out[t][r] is the same fma chain in k order in both kernels and for any
// blocking (see the header).
#include "kernels/gemm_float.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/fp16.h"
#include "kernels/type_kernels.h"

#if ACTINFER_HAVE_AVX2_KERNELS
#include <immintrin.h>
#endif

namespace actinfer {

#if ACTINFER_HAVE_AVX2_KERNELS
namespace {

constexpr int64_t kKc = 256;  // K elements per chunk: a 32-row panel is 32 KiB
// Panels packed per chunk: each token block (in L1) goes through all of them (in L2), so the
// chunk's tokens stream from L3 once per group, not once per panel. bench-matmul F32 2048^2 x
// 512 on a Zen 1 core: 134 ms with one panel (89% of its FMA peak), 124 ms with 4, 129 with 8.
constexpr int kGroupPanels = 4;

// Reusable, 64-byte aligned scratch of at least n floats (one per thread).
float* scratch(std::vector<float>& buf, size_t n) {
  if (buf.size() < n + 16) buf.resize(n + 16);
  auto p = reinterpret_cast<uintptr_t>(buf.data());
  return reinterpret_cast<float*>((p + 63) / 64 * 64);
}

// Eight 16-bit weights widened to F32 (F16, BF16), and one weight of any type (tails).
struct LoadF32 {
  static float load1(const std::byte* p) {
    float f;
    std::memcpy(&f, p, sizeof f);
    return f;
  }
  static constexpr size_t kBytes = 4;
};
struct LoadF16 {
  static __m256 widen8(__m128i h) { return _mm256_cvtph_ps(h); }
  static float load1(const std::byte* p) {
    uint16_t h;
    std::memcpy(&h, p, sizeof h);
    return fp16_to_f32(h);
  }
  static constexpr size_t kBytes = 2;
};
struct LoadBF16 {
  static __m256 widen8(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }
  static float load1(const std::byte* p) {
    uint16_t h;
    std::memcpy(&h, p, sizeof h);
    return bf16_to_f32(h);
  }
  static constexpr size_t kBytes = 2;
};

// d[c * ds + r] = s_r[c] for r, c < 4: four runs of 4 floats (4-byte units) written as four
// columns ds floats apart (exact moves).
inline void transpose4(const float* s0, const float* s1, const float* s2, const float* s3, float* d, size_t ds) {
  __m128 r0 = _mm_loadu_ps(s0), r1 = _mm_loadu_ps(s1), r2 = _mm_loadu_ps(s2), r3 = _mm_loadu_ps(s3);
  _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
  _mm_storeu_ps(d, r0);
  _mm_storeu_ps(d + ds, r1);
  _mm_storeu_ps(d + 2 * ds, r2);
  _mm_storeu_ps(d + 3 * ds, r3);
}

// Converts elements [k0, k0 + kc) of rows [0, nr) to F32 and transposes them into
// panel[kk * MR + j]; rows nr..MR-1 are zero. The conversion is exact (as dequantize_row's).
template <int MR, class Load>
void pack_panel(const std::byte* w, size_t row_stride, int64_t nr, int64_t k0, int64_t kc, float* panel) {
  const std::byte* base = w + static_cast<size_t>(k0) * Load::kBytes;
  auto at = [&](int64_t j, int64_t kk) { return base + static_cast<size_t>(j) * row_stride + static_cast<size_t>(kk) * Load::kBytes; };
  if (nr < MR)
    for (int64_t kk = 0; kk < kc; ++kk)
      for (int64_t j = nr; j < MR; ++j) panel[kk * MR + j] = 0.0f;
  // 8 x 8 blocks through 128-bit registers: 16-bit elements transposed as they are stored
  // (three rounds of unpacks), then widened; F32 ones as four 4 x 4 transposes. On Zen 1
  // (256-bit shuffles split in two, vperm2f128 8 uops) the 256-bit transpose took 10.2% of a
  // pp512 F32 prompt and 2.7% of an F16 one.
  int64_t j = 0;
  for (; j + 8 <= nr; j += 8) {
    int64_t kk = 0;
    if constexpr (Load::kBytes == 2) {
      for (; kk + 8 <= kc; kk += 8) {
        __m128i r[8];
        for (int i = 0; i < 8; ++i) r[i] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at(j + i, kk)));
        __m128i t[8], u[8];
        for (int i = 0; i < 4; ++i) {  // t[2i], t[2i+1]: rows 2i, 2i+1 interleaved, k 0-3 and 4-7
          t[2 * i] = _mm_unpacklo_epi16(r[2 * i], r[2 * i + 1]);
          t[2 * i + 1] = _mm_unpackhi_epi16(r[2 * i], r[2 * i + 1]);
        }
        for (int h = 0; h < 2; ++h)  // u[4h + m]: rows 4h..4h+3 at k 2m, 2m+1
          for (int m = 0; m < 2; ++m) {
            u[4 * h + 2 * m] = _mm_unpacklo_epi32(t[4 * h + m], t[4 * h + m + 2]);
            u[4 * h + 2 * m + 1] = _mm_unpackhi_epi32(t[4 * h + m], t[4 * h + m + 2]);
          }
        float* d = panel + kk * MR + j;
        for (int m = 0; m < 4; ++m) {  // rows 0..7 at k 2m and 2m + 1
          _mm256_store_ps(d + (2 * m) * MR, Load::widen8(_mm_unpacklo_epi64(u[m], u[4 + m])));
          _mm256_store_ps(d + (2 * m + 1) * MR, Load::widen8(_mm_unpackhi_epi64(u[m], u[4 + m])));
        }
      }
    } else {
      for (; kk + 8 <= kc; kk += 8)
        for (int jr = 0; jr < 8; jr += 4)
          for (int kr = 0; kr < 8; kr += 4) {
            auto row = [&](int i) { return reinterpret_cast<const float*>(at(j + jr + i, kk + kr)); };
            transpose4(row(0), row(1), row(2), row(3), panel + (kk + kr) * MR + j + jr, MR);
          }
    }
    for (; kk < kc; ++kk)
      for (int i = 0; i < 8; ++i) panel[kk * MR + j + i] = Load::load1(at(j + i, kk));
  }
  for (; j < nr; ++j)
    for (int64_t kk = 0; kk < kc; ++kk) panel[kk * MR + j] = Load::load1(at(j, kk));
}

using PackFn = void (*)(const std::byte* w, size_t row_stride, int64_t nr, int64_t k0, int64_t kc, float* panel);

template <int MR>
PackFn packer(GgmlType weight) {
  switch (weight) {
    case GgmlType::F16: return pack_panel<MR, LoadF16>;
    case GgmlType::BF16: return pack_panel<MR, LoadBF16>;
    default: return pack_panel<MR, LoadF32>;
  }
}

// Traits::kernel<NT> for a block of nt tokens (1..Traits::kNr): the count as a template argument,
// so each register tile is its own straight-line kernel.
template <class Traits, int NT = 1>
void run_tokens(int nt, const float* panel, int64_t kc, const std::byte* x, size_t xs, size_t ks, float* out, size_t os,
                int nr, bool first) {
  if constexpr (NT < Traits::kNr) {
    if (nt > NT) return run_tokens<Traits, NT + 1>(nt, panel, kc, x, xs, ks, out, os, nr, first);
  }
  Traits::template kernel<NT>(panel, kc, x, xs, ks, out, os, nr, first);
}

// Tokens [0, n_acts) of 4-byte units [0, units), in blocks of block_tokens, copied so that each
// (K chunk, token block) is one contiguous run [kk][nt]: chunk k0 of the block at token t starts
// at dst + k0 * n_acts + t * kc. A tile's broadcasts then walk one stream instead of nt rows
// whose equal strides (K x 4 bytes, a multiple of 4 KiB for K = 2048) put them in the same L1
// sets as each other and as the panel. Exact copies: the products are unchanged.
void pack_tokens(const std::byte* x, size_t x_stride, int64_t n_acts, int64_t units, int64_t block_tokens, int64_t t_begin,
                 int64_t t_end, uint32_t* dst) {
  for (int64_t k0 = 0; k0 < units; k0 += kKc) {
    const int64_t kc = std::min(kKc, units - k0);
    for (int64_t t = t_begin / block_tokens * block_tokens; t < t_end; t += block_tokens) {
      const int64_t nt = std::min(block_tokens, n_acts - t);
      uint32_t* d = dst + k0 * n_acts + t * kc;
      auto src = [&](int64_t j) { return reinterpret_cast<const uint32_t*>(x + static_cast<size_t>(t + j) * x_stride) + k0; };
      if (nt == 4 && t >= t_begin && t + 4 <= t_end) {
        const float* s0 = reinterpret_cast<const float*>(src(0));
        const float* s1 = reinterpret_cast<const float*>(src(1));
        const float* s2 = reinterpret_cast<const float*>(src(2));
        const float* s3 = reinterpret_cast<const float*>(src(3));
        float* df = reinterpret_cast<float*>(d);
        int64_t kk = 0;
        for (; kk + 4 <= kc; kk += 4) transpose4(s0 + kk, s1 + kk, s2 + kk, s3 + kk, df + kk * 4, 4);
        for (; kk < kc; ++kk)
          for (int64_t j = 0; j < 4; ++j) d[kk * 4 + j] = src(j)[kk];
        continue;
      }
      // A block cut by the range, or of fewer than 4 tokens: only the range's tokens.
      for (int64_t j = std::max<int64_t>(0, t_begin - t); j < nt && t + j < t_end; ++j) {
        const uint32_t* sj = src(j);
        for (int64_t kk = 0; kk < kc; ++kk) d[kk * nt + j] = sj[kk];
      }
    }
  }
}

// Tokens in blocks of nearly equal size, at most NR (64 tokens and NR 6: 11 x 5 + 9, not 12 x 5 + 4).
int64_t token_block(int64_t n_acts, int nr) {
  const int64_t n_blocks = (n_acts + nr - 1) / nr;
  return (n_acts + n_blocks - 1) / n_blocks;
}

// The driver shared by the kernels, over K in "units" (one element; a pair of BF16 elements
// for the BF16 dot kernel): per chunk of kKc units, panels of MR rows are packed by `pack`
// and run_tokens<Traits>(nt, panel, kc, x, x_stride, out, out_stride, nr, first) sweeps the tokens
// over them, x pointing at the chunk's first unit of the block's first token.
template <class Traits>
void gemm_driver(PackFn pack, size_t w_unit_bytes, int64_t units, const std::byte* w, size_t row_stride, int64_t n_rows,
                 const std::byte* x, size_t x_stride, size_t x_unit_bytes, int64_t n_acts, float* out, size_t out_stride,
                 const uint32_t* prepacked = nullptr) {
  constexpr int MR = Traits::kMr;
  constexpr int NR = Traits::kNr;
  thread_local std::vector<float> panel_buf;
  float* panels = scratch(panel_buf, static_cast<size_t>(MR * kKc * kGroupPanels));
  const int64_t n_blocks = (n_acts + NR - 1) / NR;
  const int64_t block_tokens = token_block(n_acts, NR);
  // Tokens packed: by the caller (once per batch), else once per call where more than one
  // block of rows reuses them.
  const bool packed = Traits::kPackTokens && (prepacked != nullptr || n_rows > MR);
  thread_local std::vector<uint32_t> token_buf;
  const uint32_t* tokens = prepacked;
  if (packed && tokens == nullptr) {
    if (token_buf.size() < static_cast<size_t>(n_acts * units)) token_buf.resize(static_cast<size_t>(n_acts * units));
    pack_tokens(x, x_stride, n_acts, units, block_tokens, 0, n_acts, token_buf.data());
    tokens = token_buf.data();
  }
  constexpr int G = kGroupPanels;
  for (int64_t r = 0; r < n_rows; r += MR * G) {
    const int64_t group_rows = std::min<int64_t>(MR * G, n_rows - r);
    const int n_panels = static_cast<int>((group_rows + MR - 1) / MR);
    for (int64_t k0 = 0; k0 < units; k0 += kKc) {
      const int64_t kc = std::min(kKc, units - k0);
      for (int g = 0; g < n_panels; ++g)
        pack(w + static_cast<size_t>(r + g * MR) * row_stride, row_stride, std::min<int64_t>(MR, group_rows - g * MR), k0, kc,
             panels + static_cast<size_t>(g) * MR * kKc);
      // The next panels' weights (the next chunk of these rows, or the first chunk of the
      // rows below) are prefetched a few rows per token block while these are computed.
      int64_t pr = r, pk = k0 + kKc;
      if (pk >= units) pr = r + MR * G, pk = 0;
      const int64_t pf_rows = pr < n_rows ? std::min<int64_t>(MR * G, n_rows - pr) : 0;
      const int64_t pf_bytes = pr < n_rows ? std::min(kKc, units - pk) * static_cast<int64_t>(w_unit_bytes) : 0;
      const int64_t pf_share = (pf_rows + n_blocks - 1) / n_blocks;
      const std::byte* pf = w + static_cast<size_t>(pr) * row_stride + static_cast<size_t>(pk) * w_unit_bytes;
      int64_t pf_next = 0;
      for (int64_t t = 0; t < n_acts; t += block_tokens) {
        const int nt = static_cast<int>(std::min<int64_t>(block_tokens, n_acts - t));
        for (const int64_t end = std::min(pf_rows, pf_next + pf_share); pf_next < end; ++pf_next)
          for (int64_t b = 0; b < pf_bytes; b += 64)
            _mm_prefetch(reinterpret_cast<const char*>(pf + static_cast<size_t>(pf_next) * row_stride + static_cast<size_t>(b)), _MM_HINT_T0);
        // One token block (in L1) through every panel of the group (in L2).
        for (int g = 0; g < n_panels; ++g) {
          const float* panel = panels + static_cast<size_t>(g) * MR * kKc;
          const int nr = static_cast<int>(std::min<int64_t>(MR, group_rows - g * MR));
          float* ot = out + static_cast<size_t>(t) * out_stride + r + g * MR;
          if (packed) {
            const auto* xt = reinterpret_cast<const std::byte*>(tokens + k0 * n_acts + t * kc);
            run_tokens<Traits>(nt, panel, kc, xt, 4, 4 * static_cast<size_t>(nt), ot, out_stride, nr, k0 == 0);
          } else {
            const std::byte* xt = x + static_cast<size_t>(t) * x_stride + static_cast<size_t>(k0) * x_unit_bytes;
            run_tokens<Traits>(nt, panel, kc, xt, x_stride, x_unit_bytes, ot, out_stride, nr, k0 == 0);
          }
        }
      }
    }
  }
}

template <class Traits>
void gemm_float_with(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows, const float* acts,
                     size_t act_stride, int64_t n_acts, float* out, size_t out_stride, const float* packed = nullptr) {
  gemm_driver<Traits>(packer<Traits::kMr>(weight), static_cast<size_t>(type_row(weight).block_bytes), n,
                      static_cast<const std::byte*>(w_rows), row_stride, n_rows, reinterpret_cast<const std::byte*>(acts),
                      act_stride, sizeof(float), n_acts, out, out_stride, reinterpret_cast<const uint32_t*>(packed));
}

// AVX2: 24 rows (3 ymm) x 4 tokens. Per k: 3 panel loads and 4 broadcasts for 12 FMAs; the
// 16 x 6 tile it replaced needed 2 + 6 and ran 2-3% slower (F16, BF16 pp512 on a Zen 4 host).
struct Avx2 {
  static constexpr int kMr = 24;
  static constexpr int kNr = 4;
  static constexpr bool kPackTokens = true;
  static constexpr int kV = 3;  // vectors per token

  static __m256i lane_mask(int valid) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), idx);
  }

  // GCC does not keep 12 accumulators, the panel vectors and a broadcast in the 16 ymm
  // registers (it folded a panel load into every FMA, or spilled an accumulator: 0.65x), so
  // the full tile's k loop assigns them here.
  // ymm0..11 acc[j][h] (3j + h), ymm12..14 the panel, ymm15 the token element; the same FMAs
  // per accumulator, in k order, as the loop in kernel(). Tokens are xs bytes apart (0..2
  // from x, 3 from x + 3 xs), a k step ks bytes. The accumulators start at zero (First) or
  // from out's rows (token j at out + j os) and go straight back there: a round trip through
  // the stack cost ~3% of a tile.
  template <bool First>
  static void full_tile(const float* panel, int64_t kc, const std::byte* x, size_t xs, size_t ks, float* out, size_t os) {
    const float* p = panel;
    const float* const end = panel + kc * kMr;
    const std::byte* xa = x;
    const std::byte* xb = x + 3 * xs;
    const size_t osb = os * sizeof(float);
    float* o3 = out + 3 * os;
#define ACTINFER_GEMM_TILE_LOOP                                                                                       \
  "test %[kc], %[kc]\n\t"                                                                                           \
  "jle 2f\n\t"                                                                                                      \
  "1:\n\t"                                                                                                          \
  "vmovaps (%[p]), %%ymm12\n\t"                                                                                     \
  "vmovaps 32(%[p]), %%ymm13\n\t"                                                                                   \
  "vmovaps 64(%[p]), %%ymm14\n\t"                                                                                   \
  "vbroadcastss (%[xa]), %%ymm15\n\t"                                                                               \
  "vfmadd231ps %%ymm15, %%ymm12, %%ymm0\n\t"                                                                        \
  "vfmadd231ps %%ymm15, %%ymm13, %%ymm1\n\t"                                                                        \
  "vfmadd231ps %%ymm15, %%ymm14, %%ymm2\n\t"                                                                        \
  "vbroadcastss (%[xa],%[s],1), %%ymm15\n\t"                                                                        \
  "vfmadd231ps %%ymm15, %%ymm12, %%ymm3\n\t"                                                                        \
  "vfmadd231ps %%ymm15, %%ymm13, %%ymm4\n\t"                                                                        \
  "vfmadd231ps %%ymm15, %%ymm14, %%ymm5\n\t"                                                                        \
  "vbroadcastss (%[xa],%[s],2), %%ymm15\n\t"                                                                        \
  "vfmadd231ps %%ymm15, %%ymm12, %%ymm6\n\t"                                                                        \
  "vfmadd231ps %%ymm15, %%ymm13, %%ymm7\n\t"                                                                        \
  "vfmadd231ps %%ymm15, %%ymm14, %%ymm8\n\t"                                                                        \
  "vbroadcastss (%[xb]), %%ymm15\n\t"                                                                               \
  "vfmadd231ps %%ymm15, %%ymm12, %%ymm9\n\t"                                                                        \
  "vfmadd231ps %%ymm15, %%ymm13, %%ymm10\n\t"                                                                       \
  "vfmadd231ps %%ymm15, %%ymm14, %%ymm11\n\t"                                                                       \
  "add $96, %[p]\n\t"                                                                                               \
  "add %[ks], %[xa]\n\t"                                                                                            \
  "add %[ks], %[xb]\n\t"                                                                                            \
  "cmp %[end], %[p]\n\t"                                                                                            \
  "jb 1b\n\t"                                                                                                       \
  "2:\n\t"                                                                                                          \
  "vmovups %%ymm0, (%[o])\n\t"                                                                                      \
  "vmovups %%ymm1, 32(%[o])\n\t"                                                                                    \
  "vmovups %%ymm2, 64(%[o])\n\t"                                                                                    \
  "vmovups %%ymm3, (%[o],%[ob],1)\n\t"                                                                              \
  "vmovups %%ymm4, 32(%[o],%[ob],1)\n\t"                                                                            \
  "vmovups %%ymm5, 64(%[o],%[ob],1)\n\t"                                                                            \
  "vmovups %%ymm6, (%[o],%[ob],2)\n\t"                                                                              \
  "vmovups %%ymm7, 32(%[o],%[ob],2)\n\t"                                                                            \
  "vmovups %%ymm8, 64(%[o],%[ob],2)\n\t"                                                                            \
  "vmovups %%ymm9, (%[o3])\n\t"                                                                                     \
  "vmovups %%ymm10, 32(%[o3])\n\t"                                                                                  \
  "vmovups %%ymm11, 64(%[o3])"
#define ACTINFER_GEMM_TILE_OPERANDS                                                                                   \
  : [p] "+r"(p), [xa] "+r"(xa), [xb] "+r"(xb)                                                                         \
  : [kc] "r"(kc), [s] "r"(xs), [ks] "r"(ks), [end] "r"(end), [o] "r"(out), [ob] "r"(osb), [o3] "r"(o3)              \
  : "cc", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", \
    "xmm12", "xmm13", "xmm14", "xmm15"
    if constexpr (First) {
      asm volatile(
          "vxorps %%xmm0, %%xmm0, %%xmm0\n\t"
          "vxorps %%xmm1, %%xmm1, %%xmm1\n\t"
          "vxorps %%xmm2, %%xmm2, %%xmm2\n\t"
          "vxorps %%xmm3, %%xmm3, %%xmm3\n\t"
          "vxorps %%xmm4, %%xmm4, %%xmm4\n\t"
          "vxorps %%xmm5, %%xmm5, %%xmm5\n\t"
          "vxorps %%xmm6, %%xmm6, %%xmm6\n\t"
          "vxorps %%xmm7, %%xmm7, %%xmm7\n\t"
          "vxorps %%xmm8, %%xmm8, %%xmm8\n\t"
          "vxorps %%xmm9, %%xmm9, %%xmm9\n\t"
          "vxorps %%xmm10, %%xmm10, %%xmm10\n\t"
          "vxorps %%xmm11, %%xmm11, %%xmm11\n\t" ACTINFER_GEMM_TILE_LOOP ACTINFER_GEMM_TILE_OPERANDS);
    } else {
      asm volatile(
          "vmovups (%[o]), %%ymm0\n\t"
          "vmovups 32(%[o]), %%ymm1\n\t"
          "vmovups 64(%[o]), %%ymm2\n\t"
          "vmovups (%[o],%[ob],1), %%ymm3\n\t"
          "vmovups 32(%[o],%[ob],1), %%ymm4\n\t"
          "vmovups 64(%[o],%[ob],1), %%ymm5\n\t"
          "vmovups (%[o],%[ob],2), %%ymm6\n\t"
          "vmovups 32(%[o],%[ob],2), %%ymm7\n\t"
          "vmovups 64(%[o],%[ob],2), %%ymm8\n\t"
          "vmovups (%[o3]), %%ymm9\n\t"
          "vmovups 32(%[o3]), %%ymm10\n\t"
          "vmovups 64(%[o3]), %%ymm11\n\t" ACTINFER_GEMM_TILE_LOOP ACTINFER_GEMM_TILE_OPERANDS);
    }
#undef ACTINFER_GEMM_TILE_LOOP
#undef ACTINFER_GEMM_TILE_OPERANDS
  }

  template <int NT>
  static void kernel(const float* panel, int64_t kc, const std::byte* x, size_t xs, size_t ks, float* out, size_t os,
                     int nr, bool first) {
    const bool full = nr == kMr;
    if constexpr (NT == kNr) {
      if (full) return first ? full_tile<true>(panel, kc, x, xs, ks, out, os) : full_tile<false>(panel, kc, x, xs, ks, out, os);
    }
    __m256 acc[NT][kV];
    __m256i m[kV];
    for (int h = 0; h < kV; ++h) m[h] = lane_mask(nr - 8 * h);
    for (int j = 0; j < NT; ++j)
      for (int h = 0; h < kV; ++h)
        acc[j][h] = first ? _mm256_setzero_ps() : full ? _mm256_loadu_ps(out + j * os + 8 * h) : _mm256_maskload_ps(out + j * os + 8 * h, m[h]);
    for (int64_t kk = 0; kk < kc; ++kk) {
      __m256 w[kV];
      for (int h = 0; h < kV; ++h) w[h] = _mm256_load_ps(panel + kk * kMr + 8 * h);
#pragma GCC unroll 16
      for (int j = 0; j < NT; ++j) {
        const __m256 xb = _mm256_broadcast_ss(reinterpret_cast<const float*>(x + j * xs + static_cast<size_t>(kk) * ks));
        for (int h = 0; h < kV; ++h) acc[j][h] = _mm256_fmadd_ps(w[h], xb, acc[j][h]);
      }
    }
    for (int j = 0; j < NT; ++j)
      for (int h = 0; h < kV; ++h) {
        if (full) _mm256_storeu_ps(out + j * os + 8 * h, acc[j][h]);
        else _mm256_maskstore_ps(out + j * os + 8 * h, m[h], acc[j][h]);
      }
  }
};

#if ACTINFER_HAVE_AVX512_GEMM
// The nr (<= 32) valid rows of a 32-row register tile (2 zmm per token), and its accumulators:
// zero for the first K chunk, else the partial sums in `out`; stored back under the same masks.
struct Rows32 {
  __mmask16 m0, m1;
  explicit Rows32(int nr)
      : m0(static_cast<__mmask16>(nr >= 16 ? 0xFFFF : (1u << nr) - 1)),
        m1(static_cast<__mmask16>(nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (1u << (nr - 16)) - 1)) {}
  template <int NT>
  void start(__m512 (&acc)[NT][2], const float* out, size_t os, bool first) const {
    for (int j = 0; j < NT; ++j) {
      acc[j][0] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, out + j * os);
      acc[j][1] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, out + j * os + 16);
    }
  }
  template <int NT>
  void store(const __m512 (&acc)[NT][2], float* out, size_t os) const {
    for (int j = 0; j < NT; ++j) {
      _mm512_mask_storeu_ps(out + j * os, m0, acc[j][0]);
      _mm512_mask_storeu_ps(out + j * os + 16, m1, acc[j][1]);
    }
  }
};

// AVX-512: 32 rows (2 zmm) x 12 tokens, 24 accumulators. The tokens are read from the packed
// copy: straight from 12 rows K x 4 bytes apart (the same L1 set for K = 2048), pp512 ran 3-4%
// slower (F16, F32; 3 alternated pairs on a Zen 4).
struct Avx512 {
  static constexpr int kMr = 32;
  static constexpr int kNr = 12;
  static constexpr bool kPackTokens = true;

  template <int NT>
  static void kernel(const float* panel, int64_t kc, const std::byte* x, size_t xs, size_t ks, float* out, size_t os,
                     int nr, bool first) {
    __m512 acc[NT][2];
    const Rows32 rows(nr);
    rows.start(acc, out, os, first);
    for (int64_t kk = 0; kk < kc; ++kk) {
      const __m512 w0 = _mm512_load_ps(panel + kk * kMr);
      const __m512 w1 = _mm512_load_ps(panel + kk * kMr + 16);
#pragma GCC unroll 16
      for (int j = 0; j < NT; ++j) {
        const __m512 xb = _mm512_set1_ps(*reinterpret_cast<const float*>(x + j * xs + static_cast<size_t>(kk) * ks));
        acc[j][0] = _mm512_fmadd_ps(w0, xb, acc[j][0]);
        acc[j][1] = _mm512_fmadd_ps(w1, xb, acc[j][1]);
      }
    }
    rows.store(acc, out, os);
  }
};

#if ACTINFER_HAVE_AVX512_GEMM && defined(__AVX512BF16__)
// BF16 weights with vdpbf16ps: the units are pairs of elements (a 32-bit word of two BF16),
// the tokens rounded to BF16 once per call; 32 rows (2 zmm of 16 row pairs) x 12 tokens.
// Each accumulator lane adds the two products of a pair per instruction, twice the float
// kernel's rate.
struct Avx512Bf16 {
  static constexpr int kMr = 32;
  static constexpr int kNr = 12;
  static constexpr bool kPackTokens = true;

  template <int NT>
  static void kernel(const float* panel, int64_t kc, const std::byte* x, size_t xs, size_t ks, float* out, size_t os,
                     int nr, bool first) {
    __m512 acc[NT][2];
    const Rows32 rows(nr);
    rows.start(acc, out, os, first);
    for (int64_t kk = 0; kk < kc; ++kk) {
      const auto w0 = (__m512bh)_mm512_load_si512(panel + kk * kMr);
      const auto w1 = (__m512bh)_mm512_load_si512(panel + kk * kMr + 16);
#pragma GCC unroll 16
      for (int j = 0; j < NT; ++j) {
        const auto xb = (__m512bh)_mm512_set1_epi32(*reinterpret_cast<const int*>(x + j * xs + static_cast<size_t>(kk) * ks));
        acc[j][0] = _mm512_dpbf16_ps(acc[j][0], w0, xb);
        acc[j][1] = _mm512_dpbf16_ps(acc[j][1], w1, xb);
      }
    }
    rows.store(acc, out, os);
  }
};

// Tokens rounded to BF16 (round to nearest even), n (even) elements each, into rows of n.
void round_tokens_bf16(const float* acts, size_t act_stride, int64_t n_acts, int64_t n, uint16_t* dst) {
  for (int64_t t = 0; t < n_acts; ++t) {
    const auto* src = reinterpret_cast<const float*>(reinterpret_cast<const std::byte*>(acts) + static_cast<size_t>(t) * act_stride);
    uint16_t* d = dst + t * n;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i), (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + i)));
    for (; i < n; ++i) d[i] = f32_to_bf16(src[i]);
  }
}
#endif
#endif

// The kernel gemm_float runs in this build (its token blocks set the packed copy's layout).
#if ACTINFER_HAVE_AVX512_GEMM
using FloatKernel = Avx512;
#else
using FloatKernel = Avx2;
#endif

}  // namespace

namespace kernels {

void gemm_float_avx2(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows,
                     const float* acts, size_t act_stride, int64_t n_acts, float* out, size_t out_stride,
                     const float* packed) {
  gemm_float_with<Avx2>(weight, n, w_rows, row_stride, n_rows, acts, act_stride, n_acts, out, out_stride, packed);
}

#if ACTINFER_HAVE_AVX512_GEMM
void gemm_float_avx512(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows,
                       const float* acts, size_t act_stride, int64_t n_acts, float* out, size_t out_stride,
                       const float* packed) {
  gemm_float_with<Avx512>(weight, n, w_rows, row_stride, n_rows, acts, act_stride, n_acts, out, out_stride, packed);
}
#endif

#if ACTINFER_HAVE_AVX512_GEMM && defined(__AVX512BF16__)
void gemm_bf16_dot_avx512(int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows, const float* acts,
                          size_t act_stride, int64_t n_acts, float* out, size_t out_stride) {
  thread_local std::vector<uint16_t> xb;
  if (xb.size() < static_cast<size_t>(n * n_acts)) xb.resize(static_cast<size_t>(n * n_acts));
  round_tokens_bf16(acts, act_stride, n_acts, n, xb.data());
  // The rows' 32-bit words are the pairs: packed as F32 bits (the transpose only moves them).
  gemm_driver<Avx512Bf16>(pack_panel<32, LoadF32>, 4, n / 2, static_cast<const std::byte*>(w_rows), row_stride, n_rows,
                          reinterpret_cast<const std::byte*>(xb.data()), static_cast<size_t>(n) * 2, 4, n_acts, out,
                          out_stride);
}
#endif

}  // namespace kernels
#endif  // ACTINFER_HAVE_AVX2_KERNELS

bool has_float_gemm(GgmlType weight) {
  return ACTINFER_HAVE_AVX2_KERNELS != 0 && (weight == GgmlType::F32 || weight == GgmlType::F16 || weight == GgmlType::BF16);
}

int64_t gemm_float_row_block() {
#if ACTINFER_HAVE_AVX2_KERNELS
  return FloatKernel::kMr;
#else
  return 1;
#endif
}

bool gemm_float_bf16_activations(GgmlType weight) {
#if ACTINFER_HAVE_AVX512_GEMM && defined(__AVX512BF16__)
  return weight == GgmlType::BF16;
#else
  (void)weight;
  return false;
#endif
}

size_t gemm_float_packed_floats(GgmlType weight, int64_t n, int64_t n_acts) {
#if ACTINFER_HAVE_AVX2_KERNELS
  // BF16 rows through vdpbf16ps read their own copy (the tokens rounded to BF16).
  if (gemm_float_bf16_activations(weight) && n % 2 == 0) return 0;
  return n > 0 && n_acts > 0 ? static_cast<size_t>(n) * static_cast<size_t>(n_acts) : 0;
#else
  (void)weight, (void)n, (void)n_acts;
  return 0;
#endif
}

void gemm_float_pack_tokens(const float* acts, size_t act_stride, int64_t n_acts, int64_t n, int64_t t0, int64_t t1,
                            float* packed) {
#if ACTINFER_HAVE_AVX2_KERNELS
  if (n <= 0 || n_acts <= 0 || t0 >= t1) return;
  if (t0 < 0 || t1 > n_acts) throw std::invalid_argument("gemm_float_pack_tokens: tokens outside the batch");
  pack_tokens(reinterpret_cast<const std::byte*>(acts), act_stride, n_acts, n, token_block(n_acts, FloatKernel::kNr), t0, t1,
              reinterpret_cast<uint32_t*>(packed));
#else
  (void)acts, (void)act_stride, (void)n_acts, (void)n, (void)t0, (void)t1, (void)packed;
#endif
}

void gemm_float(GgmlType weight, int64_t n, const void* w_rows, size_t row_stride, int64_t n_rows, const float* acts,
                size_t act_stride, int64_t n_acts, float* out, size_t out_stride, const float* packed) {
  if (!has_float_gemm(weight)) throw std::invalid_argument("gemm_float: no float GEMM for " + type_name(weight) + " rows");
  if (n <= 0 || n_rows <= 0 || n_acts <= 0) return;
  if ((n_rows > 1 && row_stride < static_cast<size_t>(row_bytes(weight, n))) ||
      (n_acts > 1 && (act_stride < static_cast<size_t>(n) * sizeof(float) || out_stride < static_cast<size_t>(n_rows))))
    throw std::invalid_argument("gemm_float: row, activation or output stride shorter than a row");
#if ACTINFER_HAVE_AVX512_GEMM
  if (gemm_float_bf16_activations(weight) && n % 2 == 0)
    return kernels::gemm_bf16_dot_avx512(n, w_rows, row_stride, n_rows, acts, act_stride, n_acts, out, out_stride);
  kernels::gemm_float_avx512(weight, n, w_rows, row_stride, n_rows, acts, act_stride, n_acts, out, out_stride, packed);
#elif ACTINFER_HAVE_AVX2_KERNELS
  kernels::gemm_float_avx2(weight, n, w_rows, row_stride, n_rows, acts, act_stride, n_acts, out, out_stride, packed);
#else
  (void)w_rows, (void)acts, (void)out;
#endif
}

}  // namespace actinfer
