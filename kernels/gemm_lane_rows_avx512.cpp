// Per-token kernels bit-identical to a lane of the tiled GEMM (kernels/gemm_quant.h,
// gemm_lane_exact_rows): for each (row, token) the same exact integer block dots, applied with the
// same float operations in the same order as gemm_quant_avx512.cpp does it (acc = fma(float(isum),
// dw * da, acc) per block, then Q4_1/Q5_1's acc = fma(m, s, acc)). So a serve step may send some
// tokens through tiles and the rest through these with identical bits.
//
// The lanes here are rows, not tokens: 16 rows per zmm. Per block, the 16 rows' weights are
// transposed (vpunpck, as the tile's activations are) into 8 registers, register g holding each
// row's elements 4g .. 4g + 3 in its lane; a token's block is then 8 vpdpbusd with its 4-byte
// groups broadcast, giving the 16 rows' integer dots in lanes with no horizontal sums. The
// decoded block is reused by every token of the call (up to 8 at a time), so a token costs 8
// vpdpbusd and 3 float operations per 16 rows and block. The weight scales of the 16 rows come
// from one dword gather per block.
#include "kernels/type_kernels.h"

#if ACTINFER_HAVE_AVX512_GEMM

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <memory>

#include "kernels/quant_blocks.h"

// GCC 12 warns that the _mm512_undefined_* inside its own intrinsics may be used uninitialized
// once inlined: a false positive (as in gemm_quant_avx512.cpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace actinfer::kernels {
namespace {

constexpr int kLanes = 16;   // rows per register
constexpr int kMaxTok = 8;   // tokens sharing one decode of the weights
constexpr int64_t kQK = 32;  // elements per block
constexpr int64_t kPrefetchRows = 16;  // how far ahead rows are fetched

inline __m256i load256(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// Lane e of the result = row e: the 32 bytes at rows[e] + off (off may be negative), as 8
// registers q[j] holding each row's dword j. The first kSkip bytes are not read but taken as 0
// (masked loads do not fault): they may lie before the first row.
template <unsigned kSkip = 0>
inline void transpose16x8(const uint8_t* const* rows, ptrdiff_t off, __m512i q[8]) {
  auto load = [&](int e) {
    const auto p = reinterpret_cast<const uint8_t*>(reinterpret_cast<uintptr_t>(rows[e]) + static_cast<uintptr_t>(off));
    if constexpr (kSkip > 0) return _mm256_maskz_loadu_epi8(~0u << kSkip, p);
    else return load256(p);
  };
  __m512i u[2][4];
  for (int h = 0; h < 2; ++h) {  // h = 0: rows 0..3 and 8..11; h = 1: rows 4..7 and 12..15
    __m512i z[4];
    for (int k = 0; k < 4; ++k)  // lanes of z[k]: row r dwords 0..3, 4..7, row r + 8 dwords 0..3, 4..7
      z[k] = _mm512_inserti64x4(_mm512_castsi256_si512(load(4 * h + k)), load(8 + 4 * h + k), 1);
    const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    // lanes of u[h][j]: rows (4h..4h+3) dword j, the same rows' dword j + 4, rows 8 + (4h..4h+3) dword j, j + 4
    u[h][0] = _mm512_unpacklo_epi64(t0, t2);
    u[h][1] = _mm512_unpackhi_epi64(t0, t2);
    u[h][2] = _mm512_unpacklo_epi64(t1, t3);
    u[h][3] = _mm512_unpackhi_epi64(t1, t3);
  }
  const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13), hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
  for (int j = 0; j < 4; ++j) {
    q[j] = _mm512_permutex2var_epi64(u[0][j], lo, u[1][j]);
    q[j + 4] = _mm512_permutex2var_epi64(u[0][j], hi, u[1][j]);
  }
}

// The low fp16 of each gathered dword as floats, and the high one.
inline __m512 low_fp16(__m512i x) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(x)); }
inline __m512 high_fp16(__m512i x) { return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(x, 16))); }

// Q5_0 / Q5_1: each byte of w[g] gets 0x10 where its element's bit of qh is set (qh: one row's
// 32 bits per dword). vpmultishiftqb moves bit 4g + j of each row's dword to bit 4 of byte j.
inline void add_fifth_bits(__m512i qh, __m512i w[8]) {
  for (int g = 0; g < 8; ++g) {
    uint64_t ctrl = 0;
    for (int j = 0; j < 8; ++j) ctrl |= static_cast<uint64_t>((32 * (j / 4) + 4 * g + j % 4 - 4) & 63) << (8 * j);
    const __m512i bits = _mm512_multishift_epi64_epi8(_mm512_set1_epi64(static_cast<int64_t>(ctrl)), qh);
    w[g] = _mm512_or_si512(w[g], _mm512_and_si512(bits, _mm512_set1_epi8(0x10)));
  }
}

// A 32-element block type: decode() gives the 16 rows' values as unsigned bytes (w[g]: elements
// 4g..4g+3 of each row) and their scales (and Q4_1/Q5_1's m). isum = dot(stored unsigned value,
// a) - (sum(a) << kShift), as the tile kernel makes it.
template <GgmlType kType>
struct Block32 {
  static constexpr bool kMin = kType == GgmlType::Q4_1 || kType == GgmlType::Q5_1;
  static constexpr bool kSigned = kType == GgmlType::Q8_0 || kType == GgmlType::IQ4_NL;
  static constexpr int kShift = kType == GgmlType::Q4_0 ? 3 : kType == GgmlType::Q5_0 ? 4 : kSigned ? 7 : 0;
  static constexpr size_t kBytes = kType == GgmlType::Q4_0   ? sizeof(block_q4_0)
                                   : kType == GgmlType::Q4_1 ? sizeof(block_q4_1)
                                   : kType == GgmlType::Q5_0 ? sizeof(block_q5_0)
                                   : kType == GgmlType::Q5_1 ? sizeof(block_q5_1)
                                   : kType == GgmlType::Q8_0 ? sizeof(block_q8_0)
                                                             : sizeof(block_iq4_nl);
  static constexpr bool kQ8_1 = kMin;  // the activation type: Q8_1, else Q8_0

  // rows[e] + off: row e's block; vindex: the rows' offsets from rows[0] (for the gather).
  // kFirst: the row's first block, where the 32 bytes ending at the block start before the row.
  template <bool kFirst>
  static void decode(const uint8_t* const* rows, size_t off, __m512i vindex, __m512i w[8], __m512& dw, __m512& mw) {
    if constexpr (kType == GgmlType::Q8_0) {
      // 34 bytes: the scales through a gather (a slow one, but Q8_0 rows stream from memory).
      dw = low_fp16(_mm512_i32gather_epi32(vindex, rows[0] + off, 1));
      transpose16x8(rows, static_cast<ptrdiff_t>(off) + 2, w);
      for (int g = 0; g < 8; ++g) w[g] = _mm512_xor_si512(w[g], _mm512_set1_epi8(static_cast<char>(0x80)));
    } else {
      // The 32 bytes that end where the block ends: the nibbles are dwords 4..7, the header
      // (d, m, qh) ends at dword 3. No gather: it costs as much as the rest of the decode.
      __m512i q[8];
      transpose16x8<kFirst ? 32 - kBytes : 0>(rows, static_cast<ptrdiff_t>(off + kBytes) - 32, q);
      constexpr int kHead = 32 - static_cast<int>(kBytes);  // where the block starts in the window
      const __m512i h = q[kHead / 4];
      dw = kHead % 4 == 0 ? low_fp16(h) : high_fp16(h);
      if constexpr (kMin) mw = high_fp16(h);
      const __m512i m4 = _mm512_set1_epi8(0x0F);
      for (int g = 0; g < 4; ++g) {  // dword g: low nibbles are elements 4g.., high ones 16 + 4g..
        w[g] = _mm512_and_si512(q[4 + g], m4);
        w[g + 4] = _mm512_and_si512(_mm512_srli_epi16(q[4 + g], 4), m4);
      }
      if constexpr (kType == GgmlType::IQ4_NL) {  // the codebook value + 128
        alignas(16) int8_t lut[16];
        for (int i = 0; i < 16; ++i) lut[i] = static_cast<int8_t>(kIq4nlValues[i] ^ 0x80);
        const __m512i table = _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(lut)));
        for (int g = 0; g < 8; ++g) w[g] = _mm512_shuffle_epi8(table, w[g]);
      }
      if constexpr (kType == GgmlType::Q5_0 || kType == GgmlType::Q5_1) add_fifth_bits(q[3], w);
    }
  }
};

// Per token and block of the activations: the scale d, Q8_1's s, and -(sum(a) << shift).
struct ActBlock {
  float d, s;
  int32_t off;
};

// next: the rows of the group after this one, fetched a block at a time ahead of use (the
// hardware prefetchers do not follow 16 short row streams well).
template <class W, int NT>
void row_group(const uint8_t* const* rows, const uint8_t* const* next, __m512i vindex, int64_t nb, const uint8_t* const* aq,
               size_t act_bytes, const ActBlock* const* ab, __m512 (&acc)[NT]) {
  for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
  size_t fetched = 0;  // bytes of the next rows fetched so far
  for (int64_t b = 0; b < nb; ++b) {
    const size_t off = static_cast<size_t>(b) * W::kBytes;
    for (; fetched < off + W::kBytes; fetched += 64)
      for (int e = 0; e < kLanes; ++e) _mm_prefetch(reinterpret_cast<const char*>(next[e] + fetched), _MM_HINT_T0);
    __m512i w[8];
    __m512 dw, mw;
    if (b == 0) W::template decode<true>(rows, off, vindex, w, dw, mw);
    else W::template decode<false>(rows, off, vindex, w, dw, mw);
    for (int t = 0; t < NT; ++t) {
      const uint8_t* a = aq[t] + static_cast<size_t>(b) * act_bytes;
      const ActBlock& x = ab[t][b];
      auto group = [&](int g) { return _mm512_set1_epi32(static_cast<int>(load_u32(a + 4 * g))); };
      // Two chains when few tokens overlap their latency (the integer sum is the same).
      __m512i s0 = W::kShift > 0 ? _mm512_set1_epi32(x.off) : _mm512_setzero_si512();
      __m512i isum;
      if constexpr (NT <= 2) {
        __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[1], group(1));
        s0 = _mm512_dpbusd_epi32(s0, w[0], group(0));
        for (int g = 2; g < 8; g += 2) {
          s0 = _mm512_dpbusd_epi32(s0, w[g], group(g));
          s1 = _mm512_dpbusd_epi32(s1, w[g + 1], group(g + 1));
        }
        isum = _mm512_add_epi32(s0, s1);
      } else {
        for (int g = 0; g < 8; ++g) s0 = _mm512_dpbusd_epi32(s0, w[g], group(g));
        isum = s0;
      }
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(dw, _mm512_set1_ps(x.d)), acc[t]);
      if constexpr (W::kMin) acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(x.s), acc[t]);
    }
  }
}

template <class W>
void lane_rows(int64_t n, const uint8_t* w, size_t row_stride, int64_t n_rows, const uint8_t* acts, size_t act_stride,
               int64_t n_acts, float* out, size_t out_stride) {
  const int64_t nb = n / kQK;
  constexpr size_t kActBytes = W::kQ8_1 ? sizeof(block_q8_1) : sizeof(block_q8_0);
  constexpr size_t kActQs = W::kQ8_1 ? 4 : 2;
  // The per-block activation scalars of up to kMaxTok tokens, on the stack for rows up to 8192.
  std::array<ActBlock, kMaxTok * 256> stack_ab;
  std::unique_ptr<ActBlock[]> heap_ab;
  ActBlock* ab_all = stack_ab.data();
  if (nb > 256) {
    heap_ab = std::make_unique_for_overwrite<ActBlock[]>(static_cast<size_t>(kMaxTok * nb));
    ab_all = heap_ab.get();
  }
  for (int64_t t0 = 0; t0 < n_acts; t0 += kMaxTok) {
    const int nt = static_cast<int>(std::min<int64_t>(kMaxTok, n_acts - t0));
    const uint8_t* aq[kMaxTok];
    const ActBlock* ab[kMaxTok];
    for (int t = 0; t < nt; ++t) {
      const uint8_t* a = acts + static_cast<size_t>(t0 + t) * act_stride;
      ActBlock* x = ab_all + static_cast<size_t>(t) * static_cast<size_t>(nb);
      aq[t] = a + kActQs;
      ab[t] = x;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = a + static_cast<size_t>(b) * kActBytes;
        const __m256i q = load256(blk + kActQs);
        const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), q);
        const __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        const __m128i s2 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
        const int32_t sum = _mm_cvtsi128_si32(_mm_add_epi32(s2, _mm_shuffle_epi32(s2, 1)));
        x[b] = ActBlock{load_fp16(blk), W::kQ8_1 ? load_fp16(blk + 2) : 0.0f, -(sum * (1 << W::kShift))};
      }
    }
    for (int64_t r0 = 0; r0 < n_rows; r0 += kLanes) {
      const int nr = static_cast<int>(std::min<int64_t>(kLanes, n_rows - r0));
      // A short last group repeats its last row in the spare lanes, which are not stored.
      const uint8_t* rows[kLanes];
      const uint8_t* next[kLanes];
      alignas(64) int32_t offs[kLanes];
      const int64_t last = n_rows - 1;
      for (int e = 0; e < kLanes; ++e) {
        offs[e] = static_cast<int32_t>(static_cast<size_t>(std::min(e, nr - 1)) * row_stride);
        rows[e] = w + static_cast<size_t>(r0) * row_stride + static_cast<size_t>(offs[e]);
        next[e] = w + static_cast<size_t>(std::min(last, r0 + kPrefetchRows + e)) * row_stride;
      }
      const __m512i vindex = _mm512_load_si512(offs);
      const auto mask = static_cast<__mmask16>((1u << nr) - 1);
      auto run = [&]<int NT>() {
        __m512 acc[NT];
        row_group<W, NT>(rows, next, vindex, nb, aq, kActBytes, ab, acc);
        for (int t = 0; t < NT; ++t)
          _mm512_mask_storeu_ps(out + static_cast<size_t>(t0 + t) * out_stride + static_cast<size_t>(r0), mask, acc[t]);
      };
      switch (nt) {
        case 1: run.template operator()<1>(); break;
        case 2: run.template operator()<2>(); break;
        case 3: run.template operator()<3>(); break;
        case 4: run.template operator()<4>(); break;
        case 5: run.template operator()<5>(); break;
        case 6: run.template operator()<6>(); break;
        case 7: run.template operator()<7>(); break;
        default: run.template operator()<8>(); break;
      }
    }
  }
}

}  // namespace

#define ACTINFER_LANE_ROWS(name, W)                                                                             \
  void name(int64_t n, const void* w, size_t row_stride, int64_t n_rows, const void* acts, size_t act_stride,  \
            int64_t n_acts, float* out, size_t out_stride) {                                                   \
    lane_rows<W>(n, static_cast<const uint8_t*>(w), row_stride, n_rows, static_cast<const uint8_t*>(acts),     \
                 act_stride, n_acts, out, out_stride);                                                         \
  }
ACTINFER_LANE_ROWS(lane_rows_q4_0_avx512, Block32<GgmlType::Q4_0>)
ACTINFER_LANE_ROWS(lane_rows_q4_1_avx512, Block32<GgmlType::Q4_1>)
ACTINFER_LANE_ROWS(lane_rows_q5_0_avx512, Block32<GgmlType::Q5_0>)
ACTINFER_LANE_ROWS(lane_rows_q5_1_avx512, Block32<GgmlType::Q5_1>)
ACTINFER_LANE_ROWS(lane_rows_q8_0_avx512, Block32<GgmlType::Q8_0>)
ACTINFER_LANE_ROWS(lane_rows_iq4_nl_avx512, Block32<GgmlType::IQ4_NL>)
#undef ACTINFER_LANE_ROWS

}  // namespace actinfer::kernels

#endif  // ACTINFER_HAVE_AVX512_GEMM
