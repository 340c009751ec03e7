// Failures inside the actor runtime (issue 17): an exception in a cpu-worker's job (on its
// team's thread) or in the gpu-worker's backend ends the request with that error, and the
// runtime (its actor system) still shuts down: no hang, no std::terminate.
#include <doctest/doctest.h>

#include <chrono>
#include <future>
#include <stdexcept>
#include <string>

#include "actors/actor_runtime.h"
#include "hostile_gguf.h"
#include "model/model_weights.h"

using namespace actinfer;

namespace {

// Evaluates a few tokens with a fault injected at `site`, then destroys the runtime; returns
// the error the evaluation ended with (empty: none), or "hang" after a minute.
std::string eval_with_fault(const std::shared_ptr<const ModelWeights>& w, const std::string& site, double hot_fraction) {
  DeploymentConfig o;
  o.engine.n_threads = 1;
  o.engine.n_ctx = 64;
  o.hot_fraction = hot_fraction;
  o.teams.assign(1, TeamConfig{0, {}, 1});
  o.predictor = PredictorMode::oracle;
  const FaultHook hook = [site](std::string_view at) {
    if (at == site) throw std::runtime_error("injected failure at " + std::string(at));
  };
  auto result = std::async(std::launch::async, [w, o, hook] {
    std::string error;
    {
      ActorRuntime rt(w, o, hook);
      const std::vector<int32_t> tokens = {1, 2, 3};
      try {
        rt.eval(tokens, false);
      } catch (const std::runtime_error& e) {
        error = e.what();
      }
    }  // the runtime's actor system shuts down here
    return error;
  });
  if (result.wait_for(std::chrono::seconds(60)) != std::future_status::ready) return "hang";
  return result.get();
}

}  // namespace

TEST_CASE("runtime faults: an exception in a cpu-worker's job fails the request, then the runtime shuts down") {
  const auto w = ModelWeights::load(testing::small_model("runtime_fault_cpu.gguf"));
  const std::string err = eval_with_fault(w, "cpu-worker job", 0.0);  // all neurons cold: the team has work
  CHECK(err.find("forward step failed") != std::string::npos);
  CHECK(err.find("cpu-worker-1: injected failure at cpu-worker job") != std::string::npos);
}

TEST_CASE("runtime faults: an exception in the gpu-worker's backend fails the request, then the runtime shuts down") {
  const auto w = ModelWeights::load(testing::small_model("runtime_fault_gpu.gguf"));
  const std::string err = eval_with_fault(w, "gpu-worker backend", 1.0);
  CHECK(err.find("forward step failed") != std::string::npos);
  CHECK(err.find("gpu-worker: injected failure at gpu-worker backend") != std::string::npos);
}

TEST_CASE("runtime faults: without a fault the same runtime evaluates") {
  const auto w = ModelWeights::load(testing::small_model("runtime_fault_none.gguf"));
  CHECK(eval_with_fault(w, "nowhere", 0.0).empty());
}
