// Small float kernels of a transformer layer: norms, positions, activations.
#pragma once
#include <cstdint>
#include <span>

#include "model/model_config.h"

namespace actinfer {

// out = x / sqrt(mean(x^2) + eps) * weight
void rms_norm(const float* x, const float* weight, float* out, int64_t n, float eps);
// acc += x / sqrt(mean(x^2) + eps) * weight (a normed branch joining the residual)
void rms_norm_add(const float* x, const float* weight, float* acc, int64_t n, float eps);

// Rotates adjacent pairs (x[2i], x[2i+1]) of each head by pos * base^(-2i/rope_dims),
// for the first rope_dims dims of every head ("normal" RoPE, as GGUF llama files expect).
void rope_inplace(float* x, int n_heads, int head_dim, int rope_dims, int pos, float base);
// The same in two steps, so a position's rotations serve every layer: rope_rotations
// writes (cos, sin) of pair i at cs[2i], cs[2i+1] (rope_dims values); rope_apply rotates.
void rope_rotations(int rope_dims, int pos, float base, float* cs);
void rope_apply(float* x, int n_heads, int head_dim, int rope_dims, const float* cs);
// GPT-NeoX RoPE (gemma3): the same rotations applied to the pairs (x[i], x[i + rope_dims/2]).
void rope_apply_neox(float* x, int n_heads, int head_dim, int rope_dims, const float* cs);

// Numerically stable in-place softmax.
void softmax_inplace(float* x, int64_t n);
// x[i] = e^(x[i] - m) for x[i] <= m (scores shifted by their maximum); returns their sum.
float exp_shifted(float* x, int64_t n, float m);

float activate(Activation a, float x);
// x[i] = activate(a, x[i]) for a whole row, eight at a time where AVX2 is compiled (SiLU and
// GELU through a vectorised exp: within ~1e-6 of activate's std::exp / std::tanh relative to
// max(|x|, |result|)); the FFN of a prompt batch runs this over every hidden neuron.
void activate_inplace(Activation a, float* x, int64_t n);

// y += a * x
void axpy(float a, const float* x, float* y, int64_t n);
float dot_f32(const float* a, const float* b, int64_t n);

// The index of the first x[i] that is NaN or +inf (a broken model's logits), or n if none.
int64_t first_nan_or_inf(const float* x, int64_t n);
// The index of the first largest x[i] (n > 0, no NaN): greedy sampling's token.
int64_t first_max_index(const float* x, int64_t n);

}  // namespace actinfer
