// The exact-activation matmul (float activations, dequantized weight rows): each
// output is bit-identical to dot_f32 of the dequantized row with the token's
// activations, whatever the row count (blocks of four and the rest) or the
// width (vector part and scalar tail).
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "engine/rng.h"
#include "kernels/dequantize.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "kernels/quantize.h"

using namespace actinfer;

TEST_CASE("matmul exact = dot_f32 of dequantized rows, bit for bit") {
  Rng rng(5);
  struct Shape {
    GgmlType type;
    int64_t rows, cols;
  };
  for (const Shape s : {Shape{GgmlType::F32, 7, 13}, Shape{GgmlType::F32, 9, 40}, Shape{GgmlType::Q4_1, 37, 96}, Shape{GgmlType::Q8_0, 4, 64}}) {
    CAPTURE(s.rows);
    CAPTURE(s.cols);
    const size_t row_bytes_n = static_cast<size_t>(row_bytes(s.type, s.cols));
    std::vector<std::byte> data(row_bytes_n * static_cast<size_t>(s.rows));
    std::vector<float> src(static_cast<size_t>(s.cols));
    for (int64_t r = 0; r < s.rows; ++r) {
      for (float& v : src) v = static_cast<float>(rng.normal());
      quantize_row(s.type, src.data(), data.data() + static_cast<size_t>(r) * row_bytes_n, s.cols);
    }
    const WeightMatrix w{s.type, s.rows, s.cols, data.data(), row_bytes_n};
    const int B = 3;
    std::vector<float> x(static_cast<size_t>(B * s.cols));
    for (float& v : x) v = static_cast<float>(rng.normal());
    QuantizedBatch q;
    q.resize(s.type, s.cols, B, true);
    q.quantize(x.data(), 0, B);
    std::vector<float> y(static_cast<size_t>(B * s.rows), -1.0f);
    matmul_rows(w, q, y.data(), s.rows, 0, s.rows);
    std::vector<float> row(static_cast<size_t>(s.cols));
    int differ = 0;
    for (int64_t r = 0; r < s.rows; ++r) {
      dequantize_row(s.type, w.row(r), row.data(), s.cols);
      for (int t = 0; t < B; ++t) {
        const float want = dot_f32(row.data(), x.data() + t * s.cols, s.cols);
        differ += std::memcmp(&want, &y[static_cast<size_t>(t * s.rows + r)], sizeof want) != 0;
      }
    }
    CHECK(differ == 0);
    // A row range not starting at 0 (threads split the rows): rows before it untouched.
    std::vector<float> part(y.size(), -1.0f);
    matmul_rows(w, q, part.data(), s.rows, 1, s.rows);
    CHECK(part[0] == -1.0f);
    for (int64_t r = 1; r < s.rows; ++r) CHECK(part[static_cast<size_t>(r)] == y[static_cast<size_t>(r)]);
  }
}
