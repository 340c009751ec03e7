// AVX2 tiled GEMM of quantized weight rows with prompt batches (kernels/gemm_quant.h).
//
// The per-token kernels (vec_dot_avx2.cpp) hold 32 elements of one row in a register and must
// reduce the 8 int32 lanes of every block dot horizontally, for every (row, token) pair. Here
// the lanes are tokens instead: the activations of 8 tokens are re-laid once per batch (a
// "tile") so that one 256-bit load holds the same 4 elements of all 8 tokens, and each group
// of 4 weight bytes is broadcast to all lanes. vpmaddubsw + vpmaddwd then give one int32 per
// token with no horizontal step, and the float scales are applied with one fma per (row,
// block, 8 tokens). A register tile is 2 rows x 2 tiles (16 tokens: 4 float accumulators, 4
// int16 sums, 2 activation groups; 4 rows x 8 tokens overflowed the 16 ymm registers), so
// each weight block is decoded once per 16 tokens; a last odd tile goes 4 rows x 8 tokens. The rows' decoded blocks sit in a small buffer that the broadcasts
// read (a load, not a shuffle: Zen has more load ports than shuffle ports).
//
// int16 headroom: vpmaddubsw sums 2 products per int16 lane (|a| <= 127 in every activation
// type here). Unsigned weights of at most 4 bits can sum 8 groups (16 products, <= 30480) in
// int16 before vpmaddwd widens them, 5-bit ones 4 groups, 6-bit ones 2; signed 8-bit weights
// (Q8_0, IQ4_NL, IQ4_XS, via the abs/sign trick) widen every group. Offsets (Q4_0's -8, Q5_0's
// -16, Q3_K's -4, Q6_K's -32) are folded in afterwards with the activation's per-block sums,
// prepared in the tile; minimums (Q4_1, Q5_1: m * s_a; Q4_K, Q5_K: dmin * sum m_j * sum32_j;
// Q2_K: dmin * sum m_j * sum16_j) likewise.
#include "kernels/type_kernels.h"

#if ACTINFER_HAVE_AVX2_KERNELS

#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "kernels/fp16.h"
#include "kernels/gemm_k16_formats.h"
#include "kernels/gemm_quant.h"
#include "kernels/int8_dot_avx2.h"
#include "kernels/quant_blocks.h"

namespace actinfer::kernels {
namespace {

constexpr int kTok = kGemmTileTokens;  // tokens per tile: one lane each
constexpr int kRows = 4;               // weight rows per register tile
constexpr int kMR = 2, kMT = 2;  // Block32 and K types: rows x tiles per register tile when 2+ tiles remain
constexpr int64_t kChunk = 32;         // elements per group run (a Q8_0 block, a K sub-block)

using simd::bits_to_bytes;
using simd::load128;
using simd::load256;
// An fp16 scalar at p in all 8 float lanes.
inline __m256 bcast_fp16(const uint8_t* p) { return _mm256_cvtph_ps(_mm_set1_epi16(static_cast<int16_t>(load_u16(p)))); }

// ---- the tile of 8 tokens' activations ------------------------------------------------------
// For C = n / 32 chunks, in 32-byte units:
//   groups[8c + g]  token t's elements 32c + 4g .. 32c + 4g + 3 in bytes 4t .. 4t + 3
//   sum[c]          int32 per token: the sum of its 32 quants of chunk c
//   pair16[c]       int16 pairs per token: (sum of elements 32c..32c+15, of 32c+16..32c+31)
//   pair32[p]       int16 pairs per token: (sum[2p], sum[2p+1])   (p < C / 2)
//   d[b]            float per token: the activation scale of block b (32 or 256 elements)
//   s[b]            float per token: Q8_1's s = d * sum(q) of block b
struct Tile {
  const __m256i* groups;
  const __m256i* sum;
  const __m256i* pair16;
  const __m256i* pair32;
  const __m256* d;
  const __m256* s;
};

inline Tile tile_view(const uint8_t* base, int64_t n) {
  const int64_t c = n / kChunk;
  const auto* g = reinterpret_cast<const __m256i*>(base);
  const __m256i* sum = g + 8 * c;
  const __m256i* p16 = sum + c;
  const __m256i* p32 = p16 + c;
  const auto* d = reinterpret_cast<const __m256*>(p32 + c);
  return Tile{g, sum, p16, p32, d, d + c};
}

// Activation block formats: bytes per block, chunks per block, where the quants are.
struct ActFormat {
  int64_t block_bytes;
  int64_t chunks;  // per block
  int64_t qs_offset;
  bool float_d;    // Q8_K: d is a float (else fp16 at offset 0)
  bool has_s;      // Q8_1: fp16 s at offset 2
};
constexpr ActFormat kQ8_0Fmt{sizeof(block_q8_0), 1, 2, false, false};
constexpr ActFormat kQ8_1Fmt{sizeof(block_q8_1), 1, 4, false, true};
constexpr ActFormat kQ8_KFmt{sizeof(block_q8_K), 8, 4, true, false};

inline __m256i pack_pairs(__m256i lo, __m256i hi) {
  return _mm256_or_si256(_mm256_and_si256(lo, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(hi, 16));
}

void prepare_tile(const ActFormat& f, const uint8_t* acts, size_t act_stride, int nt, int64_t n, uint8_t* out) {
  nt = std::clamp(nt, 0, kTok);
  const int64_t C = n / kChunk;
  auto* groups = reinterpret_cast<__m256i*>(out);
  __m256i* sum = groups + 8 * C;
  __m256i* p16 = sum + C;
  __m256i* p32 = p16 + C;
  auto* d = reinterpret_cast<__m256*>(p32 + C);
  __m256* s = d + C;
  const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  for (int64_t c = 0; c < C; ++c) {
    const int64_t b = c / f.chunks, k = c % f.chunks;
    __m256i r[kTok];
    for (int t = 0; t < kTok; ++t)
      r[t] = t < nt ? load256(acts + t * act_stride + b * f.block_bytes + f.qs_offset + kChunk * k) : _mm256_setzero_si256();
    // 8 x 8 transpose of dwords: row t (token) dword g -> groups[g] dword t.
    __m256i u[kTok];
    for (int h = 0; h < 2; ++h) {
      const __m256i* q = r + 4 * h;
      const __m256i t0 = _mm256_unpacklo_epi32(q[0], q[1]), t1 = _mm256_unpackhi_epi32(q[0], q[1]);
      const __m256i t2 = _mm256_unpacklo_epi32(q[2], q[3]), t3 = _mm256_unpackhi_epi32(q[2], q[3]);
      u[4 * h + 0] = _mm256_unpacklo_epi64(t0, t2);  // dword 0 | 4
      u[4 * h + 1] = _mm256_unpackhi_epi64(t0, t2);  // 1 | 5
      u[4 * h + 2] = _mm256_unpacklo_epi64(t1, t3);  // 2 | 6
      u[4 * h + 3] = _mm256_unpackhi_epi64(t1, t3);  // 3 | 7
    }
    __m256i* g = groups + 8 * c;
    for (int j = 0; j < 4; ++j) {
      g[j] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x20);
      g[j + 4] = _mm256_permute2x128_si256(u[j], u[4 + j], 0x31);
    }
    __m256i lo = _mm256_maddubs_epi16(ones8, g[0]), hi = _mm256_maddubs_epi16(ones8, g[4]);
    for (int j = 1; j < 4; ++j) {
      lo = _mm256_add_epi16(lo, _mm256_maddubs_epi16(ones8, g[j]));
      hi = _mm256_add_epi16(hi, _mm256_maddubs_epi16(ones8, g[4 + j]));
    }
    lo = _mm256_madd_epi16(lo, ones16);
    hi = _mm256_madd_epi16(hi, ones16);
    sum[c] = _mm256_add_epi32(lo, hi);
    p16[c] = pack_pairs(lo, hi);
    if (c % 2 == 1) p32[c / 2] = pack_pairs(sum[c - 1], sum[c]);
    if (k == 0) {
      alignas(32) float dv[kTok] = {}, sv[kTok] = {};
      for (int t = 0; t < nt; ++t) {
        const uint8_t* blk = acts + t * act_stride + b * f.block_bytes;
        if (f.float_d) std::memcpy(&dv[t], blk, 4);
        else dv[t] = fp16_to_f32(load_u16(blk));
        if (f.has_s) sv[t] = fp16_to_f32(load_u16(blk + 2));
      }
      d[b] = _mm256_load_ps(dv);
      s[b] = _mm256_load_ps(sv);
    }
  }
}

// ---- register-tile helpers ------------------------------------------------------------------

// The 32 nibbles of 16 bytes in element order (low nibbles are elements 0..15).
inline __m256i nibbles32(const uint8_t* qs) {
  const __m128i x = load128(qs);
  const __m128i m4 = _mm_set1_epi8(0x0F);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(x, 4), m4), _mm_and_si128(x, m4));
}

inline __m256i q5_values(const uint8_t* qh, const uint8_t* qs) {
  return _mm256_or_si256(nibbles32(qs), _mm256_and_si256(bits_to_bytes(load_u32(qh)), _mm256_set1_epi8(0x10)));
}


// acc[j] = fma(float(isum[j]), dw * da_j, acc[j]) for the T tiles: how every kernel applies a
// block's integer dot (the float sequence both kernels must share).
template <int T>
inline void add_scaled(__m256 (&acc)[T], const __m256i (&isum)[T], __m256 dw, const Tile* A, int64_t b) {
  for (int j = 0; j < T; ++j)
    acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[j]), _mm256_mul_ps(dw, _mm256_load_ps(reinterpret_cast<const float*>(A[j].d + b))), acc[j]);
}

// ---- 32-element block types -----------------------------------------------------------------

enum class Kind { kU4, kU5, kSigned };

template <GgmlType kType>
struct Block32 {
  static constexpr bool kQ4 = kType == GgmlType::Q4_0 || kType == GgmlType::Q4_1;
  static constexpr bool kQ5 = kType == GgmlType::Q5_0 || kType == GgmlType::Q5_1;
  static constexpr Kind kKind = kQ4 ? Kind::kU4 : kQ5 ? Kind::kU5 : Kind::kSigned;
  static constexpr bool kMin = kType == GgmlType::Q4_1 || kType == GgmlType::Q5_1;
  static constexpr int kOffsetShift = kType == GgmlType::Q4_0 ? 3 : kType == GgmlType::Q5_0 ? 4 : 0;  // -8, -16
  static constexpr size_t kBytes = kType == GgmlType::Q4_0   ? sizeof(block_q4_0)
                                   : kType == GgmlType::Q4_1 ? sizeof(block_q4_1)
                                   : kType == GgmlType::Q5_0 ? sizeof(block_q5_0)
                                   : kType == GgmlType::Q5_1 ? sizeof(block_q5_1)
                                   : kType == GgmlType::Q8_0 ? sizeof(block_q8_0)
                                                             : sizeof(block_iq4_nl);
  static constexpr int64_t kElems = 32;

  static __m256i decode(const uint8_t* blk) {
    if constexpr (kType == GgmlType::Q4_0) return nibbles32(blk + 2);
    else if constexpr (kType == GgmlType::Q4_1) return nibbles32(blk + 4);
    else if constexpr (kType == GgmlType::Q5_0) return q5_values(blk + 2, blk + 6);
    else if constexpr (kType == GgmlType::Q5_1) return q5_values(blk + 4, blk + 8);
    else if constexpr (kType == GgmlType::Q8_0) return load256(blk + 2);
    else return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(load128(kIq4nlValues)), nibbles32(blk + 2));
  }

  // R rows x T tiles (8 T tokens) of accumulators: acc[r][j].
  template <int R, int T>
  static void run_rt(const uint8_t* const* rows, int64_t nb, const Tile* A, __m256 (&acc)[R][T]) {
    const __m256i ones16 = _mm256_set1_epi16(1);
    alignas(32) uint8_t w[R][kChunk];
    for (int64_t b = 0; b < nb; ++b) {
      for (int r = 0; r < R; ++r) _mm256_store_si256(reinterpret_cast<__m256i*>(w[r]), decode(rows[r] + b * kBytes));
      __m256i isum[R][T];
      constexpr int kPerSum = kKind == Kind::kU4 ? 8 : kKind == Kind::kU5 ? 4 : 1;  // groups summed in int16
      for (int g0 = 0; g0 < 8; g0 += kPerSum) {
        __m256i s[R][T];
        for (int g = g0; g < g0 + kPerSum; ++g) {
          __m256i a[T];
          for (int j = 0; j < T; ++j) a[j] = _mm256_load_si256(A[j].groups + 8 * b + g);
          for (int r = 0; r < R; ++r) {
            const __m256i wv = _mm256_set1_epi32(static_cast<int>(load_u32(w[r] + 4 * g)));
            for (int j = 0; j < T; ++j) {
              const __m256i p = kKind == Kind::kSigned ? _mm256_maddubs_epi16(_mm256_abs_epi8(wv), _mm256_sign_epi8(a[j], wv))
                                                       : _mm256_maddubs_epi16(wv, a[j]);
              s[r][j] = g == g0 ? p : _mm256_add_epi16(s[r][j], p);
            }
          }
        }
        for (int r = 0; r < R; ++r)
          for (int j = 0; j < T; ++j) {
            const __m256i v = _mm256_madd_epi16(s[r][j], ones16);
            isum[r][j] = g0 == 0 ? v : _mm256_add_epi32(isum[r][j], v);
          }
      }
      for (int j = 0; j < T; ++j) {
        if constexpr (kOffsetShift > 0) {
          const __m256i off = _mm256_slli_epi32(_mm256_load_si256(A[j].sum + b), kOffsetShift);
          for (int r = 0; r < R; ++r) isum[r][j] = _mm256_sub_epi32(isum[r][j], off);
        }
      }
      for (int r = 0; r < R; ++r) {
        const uint8_t* blk = rows[r] + b * kBytes;
        const __m256 dw = bcast_fp16(blk);
        for (int j = 0; j < T; ++j) {
          const __m256 da = _mm256_load_ps(reinterpret_cast<const float*>(A[j].d + b));
          acc[r][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r][j]), _mm256_mul_ps(dw, da), acc[r][j]);
        }
        if constexpr (kMin) {
          const __m256 mw = bcast_fp16(blk + 2);
          for (int j = 0; j < T; ++j)
            acc[r][j] = _mm256_fmadd_ps(mw, _mm256_load_ps(reinterpret_cast<const float*>(A[j].s + b)), acc[r][j]);
        }
      }
    }
  }

};

// ---- K quants x Q8_K ----------------------------------------------------------------------


inline __m256i bcast16(int v) { return _mm256_set1_epi16(static_cast<int16_t>(v)); }
inline __m256i bcast_pair16(int lo, int hi) {
  return _mm256_set1_epi32(static_cast<int>((static_cast<uint32_t>(static_cast<uint16_t>(lo))) |
                                            (static_cast<uint32_t>(static_cast<uint16_t>(hi)) << 16)));
}

template <bool kQ5>
struct KQ45 {
  static constexpr size_t kBytes = kQ5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
  static constexpr int64_t kElems = QK_K;

  template <int R, int T>
  static void run_rt(const uint8_t* const* rows, int64_t nb, const Tile* A, __m256 (&acc)[R][T]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), b4 = _mm256_set1_epi8(0x10);
    alignas(32) uint8_t lo[R][kChunk], hi[R][kChunk];
    for (int64_t b = 0; b < nb; ++b) {
      uint8_t sc[R][8], mn[R][8];
      __m256i isum[R][T], msum[R][T];
      for (int r = 0; r < R; ++r) {
        unpack_scale_min_k4(rows[r] + b * kBytes + 4, sc[r], mn[r]);
        for (int j = 0; j < T; ++j) isum[r][j] = msum[r][j] = _mm256_setzero_si256();
      }
      for (int c = 0; c < 4; ++c) {  // chunks 2c (low nibbles) and 2c + 1 (high nibbles)
        for (int r = 0; r < R; ++r) {
          const uint8_t* blk = rows[r] + b * kBytes;
          const __m256i q = load256(blk + (kQ5 ? 48 : 16) + 32 * c);
          __m256i l = _mm256_and_si256(q, m4), h = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
          if constexpr (kQ5) {
            const __m256i qh = load256(blk + 16);
            l = _mm256_or_si256(l, _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c), 4), b4));
            h = _mm256_or_si256(h, _mm256_and_si256(_mm256_slli_epi16(_mm256_srli_epi16(qh, 2 * c + 1), 4), b4));
          }
          _mm256_store_si256(reinterpret_cast<__m256i*>(lo[r]), l);
          _mm256_store_si256(reinterpret_cast<__m256i*>(hi[r]), h);
        }
        for (int half = 0; half < 2; ++half) {
          const int ch = 2 * c + half;
          const uint8_t (*w)[kChunk] = half ? hi : lo;
          constexpr int kPerSum = kQ5 ? 4 : 8;  // groups summed in int16
          for (int g0 = 0; g0 < 8; g0 += kPerSum) {
            __m256i s[R][T];
            for (int g = g0; g < g0 + kPerSum; ++g) {
              __m256i a[T];
              for (int j = 0; j < T; ++j) a[j] = _mm256_load_si256(A[j].groups + 8 * (8 * b + ch) + g);
              for (int r = 0; r < R; ++r) {
                const __m256i wv = _mm256_set1_epi32(static_cast<int>(load_u32(w[r] + 4 * g)));
                for (int j = 0; j < T; ++j) {
                  const __m256i p = _mm256_maddubs_epi16(wv, a[j]);
                  s[r][j] = g == g0 ? p : _mm256_add_epi16(s[r][j], p);
                }
              }
            }
            for (int r = 0; r < R; ++r) {
              const __m256i m = bcast16(sc[r][ch]);
              for (int j = 0; j < T; ++j) isum[r][j] = _mm256_add_epi32(isum[r][j], _mm256_madd_epi16(s[r][j], m));
            }
          }
        }
        // mins of sub-blocks 2c, 2c + 1 with the activation's 32-element sums
        for (int r = 0; r < R; ++r) {
          const __m256i m = bcast_pair16(mn[r][2 * c], mn[r][2 * c + 1]);
          for (int j = 0; j < T; ++j)
            msum[r][j] = _mm256_add_epi32(msum[r][j], _mm256_madd_epi16(_mm256_load_si256(A[j].pair32 + 4 * b + c), m));
        }
      }
      for (int r = 0; r < R; ++r) {
        const uint8_t* blk = rows[r] + b * kBytes;
        const __m256 d = bcast_fp16(blk), dmin = bcast_fp16(blk + 2);
        for (int j = 0; j < T; ++j) {
          const __m256 da = _mm256_load_ps(reinterpret_cast<const float*>(A[j].d + b));
          acc[r][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[r][j]), _mm256_mul_ps(d, da), acc[r][j]);
          acc[r][j] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum[r][j]), _mm256_mul_ps(dmin, da), acc[r][j]);
        }
      }
    }
  }

};

// Q2_K, Q3_K, Q6_K (kernels/gemm_k16_formats.h): 16 sub-blocks of 16 elements with integer
// scales. Per block: acc = fnma(float(msum), dmin * da, acc) (Q2_K's mins, msum = sum_j mn_j *
// asum_j), then acc = fma(float(isum), d * da, acc) with isum = sum_j sc_j * (dot(u_j, a) -
// off * asum_j), asum_j the activation's sum over sub-block j (the tile's pair16 sums).
template <class F>
struct K16 {
  static constexpr size_t kBytes = F::kBytes;
  static constexpr int64_t kElems = QK_K;

  // sum_j x_j * asum_j for the 16 sub-blocks of block b: int32 per token.
  static __m256i scaled_sums(const Tile& A, int64_t b, const int16_t x[16]) {
    // x[2c], x[2c + 1] are the int16 pair that meets pair c of the sums.
    auto pair = [&](int c) { return _mm256_set1_epi32(static_cast<int>(load_u32(x + 2 * c))); };
    __m256i s = _mm256_madd_epi16(_mm256_load_si256(A.pair16 + 8 * b), pair(0));
    for (int c = 1; c < 8; ++c) s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_load_si256(A.pair16 + 8 * b + c), pair(c)));
    return s;
  }

  template <int R, int T>
  static void run_rt(const uint8_t* const* rows, int64_t nb, const Tile* A, __m256 (&acc)[R][T]) {
    constexpr int G = F::kInt16Groups;
    alignas(32) uint8_t w[4][R][kChunk];
    for (int64_t b = 0; b < nb; ++b) {
      int16_t sc[R][16], mn[R][16];
      __m256i isum[R][T];
      for (int r = 0; r < R; ++r) {
        const uint8_t* blk = rows[r] + b * kBytes;
        F::scales(blk, sc[r], mn[r]);
        for (int j = 0; j < T; ++j) {
          if constexpr (F::kMin) {
            const __m256 dmin = bcast_fp16(F::dmin(blk));
            const __m256 da = _mm256_load_ps(reinterpret_cast<const float*>(A[j].d + b));
            acc[r][j] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(scaled_sums(A[j], b, mn[r])), _mm256_mul_ps(dmin, da), acc[r][j]);
          }
          if constexpr (F::kOffShift >= 0)
            isum[r][j] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(scaled_sums(A[j], b, sc[r]), F::kOffShift));
          else
            isum[r][j] = _mm256_setzero_si256();
        }
      }
      for (int h = 0; h < 2; ++h) {
        for (int r = 0; r < R; ++r) {
          __m256i v[4];
          F::decode_half(rows[r] + b * kBytes, h, v);
          for (int k = 0; k < 4; ++k) _mm256_store_si256(reinterpret_cast<__m256i*>(w[k][r]), v[k]);
        }
        for (int k = 0; k < 4; ++k) {
          const int c = 4 * h + k;  // chunk: sub-blocks 2c (groups 0..3) and 2c + 1 (groups 4..7)
          for (int g0 = 0; g0 < 8; g0 += G) {
            __m256i s[R][T];
            for (int g = g0; g < g0 + G; ++g) {
              __m256i a[T];
              for (int j = 0; j < T; ++j) a[j] = _mm256_load_si256(A[j].groups + 8 * (8 * b + c) + g);
              for (int r = 0; r < R; ++r) {
                const __m256i wv = _mm256_set1_epi32(static_cast<int>(load_u32(w[k][r] + 4 * g)));
                for (int j = 0; j < T; ++j) {
                  const __m256i p = _mm256_maddubs_epi16(wv, a[j]);
                  s[r][j] = g == g0 ? p : _mm256_add_epi16(s[r][j], p);
                }
              }
            }
            for (int r = 0; r < R; ++r) {
              const __m256i m = bcast16(sc[r][2 * c + g0 / 4]);
              for (int j = 0; j < T; ++j) isum[r][j] = _mm256_add_epi32(isum[r][j], _mm256_madd_epi16(s[r][j], m));
            }
          }
        }
      }
      for (int r = 0; r < R; ++r) add_scaled(acc[r], isum[r], bcast_fp16(F::d(rows[r] + b * kBytes)), A, b);
    }
  }

};

// IQ4_XS x Q8_K: each sub-block of 32 signed codebook values applied as IQ4_NL's blocks are:
// dot_j = dot(v_j, a) (the abs/sign trick), acc = fma(float(dot_j), (d * ls_j) * da, acc) with
// the sub-block's float scale d * ls_j (exact in float).
struct IQ4XS {
  static constexpr size_t kBytes = sizeof(block_iq4_xs);
  static constexpr int64_t kElems = QK_K;

  template <int R, int T>
  static void run_rt(const uint8_t* const* rows, int64_t nb, const Tile* A, __m256 (&acc)[R][T]) {
    const __m256i ones16 = _mm256_set1_epi16(1);
    alignas(32) uint8_t w[R][kChunk];
    for (int64_t b = 0; b < nb; ++b) {
      float dls[R][8];
      for (int r = 0; r < R; ++r) k16::iq4_xs_float_scales(rows[r] + b * kBytes, dls[r]);
      for (int c = 0; c < 8; ++c) {
        for (int r = 0; r < R; ++r) _mm256_store_si256(reinterpret_cast<__m256i*>(w[r]), k16::iq4_xs_values(rows[r] + b * kBytes, c));
        __m256i dot[R][T];
        for (int r = 0; r < R; ++r)
          for (int j = 0; j < T; ++j) dot[r][j] = _mm256_setzero_si256();
        for (int g = 0; g < 8; ++g) {
          __m256i a[T];
          for (int j = 0; j < T; ++j) a[j] = _mm256_load_si256(A[j].groups + 8 * (8 * b + c) + g);
          for (int r = 0; r < R; ++r) {
            const __m256i wv = _mm256_set1_epi32(static_cast<int>(load_u32(w[r] + 4 * g)));
            const __m256i aw = _mm256_abs_epi8(wv);
            for (int j = 0; j < T; ++j)
              dot[r][j] = _mm256_add_epi32(dot[r][j], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(a[j], wv)), ones16));
          }
        }
        for (int r = 0; r < R; ++r) {
          const __m256 s = _mm256_set1_ps(dls[r][c]);
          for (int j = 0; j < T; ++j)
            acc[r][j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[r][j]),
                                        _mm256_mul_ps(s, _mm256_load_ps(reinterpret_cast<const float*>(A[j].d + b))), acc[r][j]);
        }
      }
    }
  }
};

// ---- the driver ---------------------------------------------------------------------------

// Results go through a staging block of kStageRows rows x the chunk's tokens, then to `out` a
// token at a time (stored straight, a register tile's tokens land out_stride floats apart, in
// one or two L1 sets for every model width); the rows of the register tile after next are
// fetched ahead of use. As in gemm_quant_avx512.cpp.
constexpr int64_t kStageRows = 64;
constexpr int kPrefetchTiles = 2;

template <class W>
void gemm(int64_t n, const uint8_t* w, size_t row_stride, int64_t n_rows, const uint8_t* tiles, int64_t n_acts,
          float* out, size_t out_stride) {
  const size_t tb = gemm_tile_bytes(n);
  const int64_t n_tiles = (n_acts + kTok - 1) / kTok;
  // Tiles in chunks that stay in L2 while the rows of a register tile (in L1) meet each of them.
  const int64_t per_chunk = std::min(n_tiles, std::max<int64_t>(1, static_cast<int64_t>((256u << 10) / tb)));
  const auto stage_buf = std::make_unique_for_overwrite<float[]>(static_cast<size_t>(per_chunk * kTok * kStageRows));
  float* const stage = stage_buf.get();
  const int64_t nb = n / W::kElems;
  const size_t row_bytes_used = static_cast<size_t>(nb) * W::kBytes;
  for (int64_t t0 = 0; t0 < n_tiles; t0 += per_chunk) {
    const int64_t t1 = std::min(n_tiles, t0 + per_chunk);
    const int64_t tok0 = t0 * kTok, tok1 = std::min(n_acts, t1 * kTok);
    for (int64_t g0 = 0; g0 < n_rows; g0 += kStageRows) {
      const int64_t g1 = std::min(n_rows, g0 + kStageRows);
      for (int64_t r0 = g0; r0 < g1; r0 += kRows) {
        const int nr = static_cast<int>(std::min<int64_t>(kRows, n_rows - r0));
        const uint8_t* rows[kRows];
        for (int r = 0; r < kRows; ++r) rows[r] = w + static_cast<size_t>(r0 + std::min(r, nr - 1)) * row_stride;
        for (int64_t r = r0 + kPrefetchTiles * kRows; r < std::min(n_rows, r0 + (kPrefetchTiles + 1) * kRows); ++r)
          for (size_t off = 0; off < row_bytes_used; off += 64)
            _mm_prefetch(reinterpret_cast<const char*>(w + static_cast<size_t>(r) * row_stride + off), _MM_HINT_T0);
        // Accumulator lanes are tokens: stage[token - tok0][row - g0] for the valid rows and tokens.
        auto store = [&](const __m256& acc, int r, int64_t ti) {
          alignas(32) float res[kTok];
          _mm256_store_ps(res, acc);
          const int nt = static_cast<int>(std::min<int64_t>(kTok, n_acts - ti * kTok));
          float* dst = stage + static_cast<size_t>((ti - t0) * kTok) * kStageRows + static_cast<size_t>(r0 - g0 + r);
          for (int t = 0; t < nt; ++t) dst[static_cast<size_t>(t) * kStageRows] = res[t];
        };
        int64_t ti = t0;
        // kMT tiles at once, kMR rows at a time: each decoded weight block serves 8 kMT tokens.
        for (; ti + kMT <= t1; ti += kMT) {
          Tile A[kMT];
          for (int j = 0; j < kMT; ++j) A[j] = tile_view(tiles + static_cast<size_t>(ti + j) * tb, n);
          for (int part = 0; part < kRows / kMR; ++part) {
            if (kMR * part >= nr) break;
            __m256 acc[kMR][kMT];
            for (auto& row : acc)
              for (auto& a : row) a = _mm256_setzero_ps();
            W::template run_rt<kMR, kMT>(rows + kMR * part, nb, A, acc);
            for (int r = kMR * part; r < std::min(nr, kMR * part + kMR); ++r)
              for (int j = 0; j < kMT; ++j) store(acc[r - kMR * part][j], r, ti + j);
          }
        }
        for (; ti < t1; ++ti) {  // a last odd tile: kRows rows at a time
          const Tile A = tile_view(tiles + static_cast<size_t>(ti) * tb, n);
          __m256 acc[kRows][1];
          for (auto& row : acc) row[0] = _mm256_setzero_ps();
          W::template run_rt<kRows, 1>(rows, nb, &A, acc);
          for (int r = 0; r < nr; ++r) store(acc[r][0], r, ti);
        }
      }
      for (int64_t t = tok0; t < tok1; ++t)
        std::memcpy(out + static_cast<size_t>(t) * out_stride + static_cast<size_t>(g0),
                    stage + static_cast<size_t>(t - tok0) * kStageRows, static_cast<size_t>(g1 - g0) * sizeof(float));
    }
  }
}

}  // namespace

void gemm_prepare_q8_0_avx2(const void* acts, size_t act_stride, int n_tokens, int64_t n, void* tile) {
  prepare_tile(kQ8_0Fmt, static_cast<const uint8_t*>(acts), act_stride, n_tokens, n, static_cast<uint8_t*>(tile));
}
void gemm_prepare_q8_1_avx2(const void* acts, size_t act_stride, int n_tokens, int64_t n, void* tile) {
  prepare_tile(kQ8_1Fmt, static_cast<const uint8_t*>(acts), act_stride, n_tokens, n, static_cast<uint8_t*>(tile));
}
void gemm_prepare_q8_K_avx2(const void* acts, size_t act_stride, int n_tokens, int64_t n, void* tile) {
  prepare_tile(kQ8_KFmt, static_cast<const uint8_t*>(acts), act_stride, n_tokens, n, static_cast<uint8_t*>(tile));
}

#define ACTINFER_GEMM(name, W)                                                                                  \
  void name(int64_t n, const void* w, size_t row_stride, int64_t n_rows, const void* tiles, int64_t n_acts,    \
            float* out, size_t out_stride) {                                                                   \
    gemm<W>(n, static_cast<const uint8_t*>(w), row_stride, n_rows, static_cast<const uint8_t*>(tiles), n_acts, \
            out, out_stride);                                                                                  \
  }
ACTINFER_GEMM(gemm_q4_0_avx2, Block32<GgmlType::Q4_0>)
ACTINFER_GEMM(gemm_q4_1_avx2, Block32<GgmlType::Q4_1>)
ACTINFER_GEMM(gemm_q5_0_avx2, Block32<GgmlType::Q5_0>)
ACTINFER_GEMM(gemm_q5_1_avx2, Block32<GgmlType::Q5_1>)
ACTINFER_GEMM(gemm_q8_0_avx2, Block32<GgmlType::Q8_0>)
ACTINFER_GEMM(gemm_iq4_nl_avx2, Block32<GgmlType::IQ4_NL>)
ACTINFER_GEMM(gemm_q4_K_avx2, KQ45<false>)
ACTINFER_GEMM(gemm_q5_K_avx2, KQ45<true>)
ACTINFER_GEMM(gemm_q2_K_avx2, K16<k16::Q2K>)
ACTINFER_GEMM(gemm_q3_K_avx2, K16<k16::Q3K>)
ACTINFER_GEMM(gemm_q6_K_avx2, K16<k16::Q6K>)
ACTINFER_GEMM(gemm_iq4_xs_avx2, IQ4XS)
#undef ACTINFER_GEMM

}  // namespace actinfer::kernels

#endif  // ACTINFER_HAVE_AVX2_KERNELS
