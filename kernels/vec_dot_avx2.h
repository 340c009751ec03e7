// Internal: whether the AVX2/FMA/F16C kernels behind kernels/vec_dot.h are compiled (where the
// compiler targets those extensions). Their entry points are in kernels/type_kernels.h.
#pragma once

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define ACTINFER_HAVE_AVX2_KERNELS 1
#else
#define ACTINFER_HAVE_AVX2_KERNELS 0
#endif
