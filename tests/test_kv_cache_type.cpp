// --cache-type f16: the KV cache in half precision halves its memory, on the
// dense engine and the actor runtime's host backend alike, and stays close to
// the F32 cache's logits.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "actors/actor_runtime.h"
#include "backends/backend.h"
#include "engine/dense_engine.h"
#include "engine/kv_cache.h"
#include "tests/runtime_comparison.h"

using namespace actinfer;

namespace {

EngineOptions engine(KvCacheType type) {
  EngineOptions e;
  e.n_threads = 1;
  e.n_ctx = 64;
  e.max_batch = 4;
  e.cache_type = type;
  return e;
}

const std::vector<int32_t> kCacheTokens = {3, 77, 120, 5, 9, 250, 31, 64, 2, 199, 17, 44};

}  // namespace

TEST_CASE("KV cache: f16 takes half the bytes of f32 and keeps values to half precision") {
  const KvCache f32(3, 16, 64, KvCacheType::F32), f16(3, 16, 64, KvCacheType::F16);
  CHECK(f32.bytes() == 2u * 3 * 16 * 64 * 4);
  CHECK(f16.bytes() * 2 == f32.bytes());
  KvCache c(1, 2, 4, KvCacheType::F16);
  const float k[4] = {1.0f, -0.333333f, 1000.1f, 6e-5f}, v[4] = {0.5f, 2.0f, -3.25f, 65504.0f};
  c.store(0, 1, k, v);
  float buf[4];
  for (int i = 0; i < 4; ++i) {
    // Half precision: 11 significant bits, so a relative error of at most 2^-11 (normal values).
    CHECK(std::fabs(c.k_row(0, 1, i, 1, buf)[0] - k[i]) <= std::fabs(k[i]) * 0x1p-11f);
    const float out = 2.0f * c.v_row(0, 1, i, 1, buf)[0];
    CHECK(std::fabs(out - 2 * v[i]) <= std::fabs(2 * v[i]) * 0x1p-11f);
  }
  const float* row = c.k_row(0, 1, 0, 4, buf);
  CHECK(row[0] + row[1] + row[2] + row[3] == doctest::Approx(1.0 - 0.333333 + 1000.1 + 6e-5).epsilon(1e-3));
  float f32_buf[4];  // an F32 cache hands out its own row, unchanged
  KvCache c32(1, 2, 4, KvCacheType::F32);
  c32.store(0, 1, k, v);
  for (int i = 0; i < 4; ++i) CHECK(c32.k_row(0, 1, 0, 4, f32_buf)[i] == k[i]);
  CHECK(parse_kv_cache_type("f16") == KvCacheType::F16);
  CHECK(parse_kv_cache_type("f32") == KvCacheType::F32);
  CHECK(!parse_kv_cache_type("q8_0"));
}

TEST_CASE("KV cache kept head by head: each head's positions contiguous, rows read back whole") {
  // 2 layers, 5 positions, 3 heads of 4: a head's rows of consecutive positions lie 4 floats apart.
  for (KvCacheType type : {KvCacheType::F32, KvCacheType::F16}) {
    KvCache c(2, 5, 12, type, 4);
    CHECK(c.head_dim() == 4);
    CHECK(c.bytes() == KvCache(2, 5, 12, type).bytes());
    for (int layer = 0; layer < 2; ++layer)
      for (int p = 0; p < 5; ++p) {
        float k[12], v[12];
        for (int i = 0; i < 12; ++i) k[i] = static_cast<float>(100 * layer + 12 * p + i), v[i] = -k[i];
        c.store(layer, p, k, v);
      }
    float buf[4];
    for (int layer = 0; layer < 2; ++layer)
      for (int p = 0; p < 5; ++p)
        for (int h = 0; h < 3; ++h) {
          const float* k = c.k_row(layer, p, 4 * h, 4, buf);
          for (int i = 0; i < 4; ++i) CHECK(k[i] == static_cast<float>(100 * layer + 12 * p + 4 * h + i));
          CHECK(c.v_row(layer, p, 4 * h + 1, 3, buf)[2] == -static_cast<float>(100 * layer + 12 * p + 4 * h + 3));
        }
    if (type == KvCacheType::F32)  // in place: position p + 1's row of a head follows position p's
      CHECK(c.k_row(1, 3, 8, 4, buf) + 4 == c.k_row(1, 4, 8, 4, buf));
    // Runs of positions read in place (what attention's kernels take): row i of a run is the
    // row k_row and v_row give for position pos0 + i, in the cache's own type.
    for (int head_at : {0, 4, 8}) {
      for (int pos0 : {0, 1}) {
        const KvRows kr = c.k_run(1, pos0, head_at), vr = c.v_run(0, pos0, head_at);
        CHECK(kr.type == type);
        CHECK(kr.stride == 4);
        float wide[4];
        for (int i = 0; pos0 + i < 5; ++i)
          for (int e = 0; e < 4; ++e) {
            CHECK(kr.widened(i, 4, wide)[e] == c.k_row(1, pos0 + i, head_at, 4, buf)[e]);
            CHECK(vr.widened(i, 4, wide)[e] == c.v_row(0, pos0 + i, head_at, 4, buf)[e]);
          }
      }
    }
  }
  // The flat layout (head_dim 0: one head of kv_dim): a run's rows are kv_dim apart.
  KvCache flat(1, 3, 12, KvCacheType::F32);
  float k[12], v[12];
  for (int p = 0; p < 3; ++p) {
    for (int i = 0; i < 12; ++i) k[i] = static_cast<float>(12 * p + i), v[i] = -k[i];
    flat.store(0, p, k, v);
  }
  const KvRows fr = flat.k_run(0, 1, 4);
  CHECK(fr.stride == 12);
  CHECK(fr.f32(1)[2] == 12.0f * 2 + 6);
  CHECK(flat.v_run(0, 0, 8).f32(2)[3] == -(12.0f * 2 + 11));
  CHECK_THROWS_WITH_AS(KvCache(1, 4, 12, KvCacheType::F32, 5), "KV cache: head dimension 5 does not divide 12", std::invalid_argument);
}

TEST_CASE("KV cache f16: dense engine close to f32, actor runtime equal to dense, footprint halved") {
  auto w = ModelWeights::load(testing::small_relu_model("kv_f16_tiny", GgmlType::F32, 21));
  DenseEngine dense32(w, engine(KvCacheType::F32));
  DenseEngine dense16(w, engine(KvCacheType::F16));
  const double rel = testing::relative_difference(dense16, dense32, kCacheTokens);
  INFO("f16 vs f32 cache: max relative logit difference " << rel);
  CHECK(rel > 0);     // the half-precision path was taken
  CHECK(rel < 5e-3);  // and rounds keys and values only

  DeploymentConfig ao;
  ao.engine = engine(KvCacheType::F16);
  ao.hot_fraction = 0.3;
  ao.teams.assign(1, TeamConfig{0, {}, 1});
  ao.predictor = PredictorMode::oracle;
  ActorRuntime actors(w, ao);
  DenseEngine dense16b(w, engine(KvCacheType::F16));
  CHECK(testing::relative_difference(actors, dense16b, kCacheTokens) < 1e-5);

  const std::vector<int64_t> none(3, 0);
  CHECK(device_footprint(*w, none, 64, false, KvCacheType::F16).kv_cache * 2 == device_footprint(*w, none, 64, false, KvCacheType::F32).kv_cache);
  CHECK(device_footprint(*w, none, 64, false).kv_cache == device_footprint(*w, none, 64, false, KvCacheType::F16).kv_cache);  // the default
}
