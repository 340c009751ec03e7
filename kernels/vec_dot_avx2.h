// Internal: whether the AVX2/FMA/F16C kernels behind kernels/vec_dot.h are compiled (where the
// compiler targets those extensions). Their entry points are in kernels/type_kernels.h.
#pragma once

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define ACTINFER_HAVE_AVX2_KERNELS 1
#else
#define ACTINFER_HAVE_AVX2_KERNELS 0
#endif

// Whether the AVX-512 VNNI tiled GEMM (kernels/gemm_quant_avx512.cpp) is compiled; it
// replaces the AVX2 one for 32-element block types, with bit-identical results.
#if ACTINFER_HAVE_AVX2_KERNELS && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512VNNI__)
#define ACTINFER_HAVE_AVX512_GEMM 1
#else
#define ACTINFER_HAVE_AVX512_GEMM 0
#endif
