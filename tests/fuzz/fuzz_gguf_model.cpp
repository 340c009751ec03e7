// Fuzz target: a GGUF file through the reader (every key and tensor touched), the model
// loader, the tokenizer it carries, and the first forward step of the dense engine.
#include <cstdint>

#include "engine/dense_engine.h"
#include "model/gguf_file.h"
#include "model/model_weights.h"
#include "model/tokenizer.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using namespace actinfer;

// Reads every value and tensor byte range the reader hands out, so ASan sees any bad span.
uint64_t touch_everything(const GgufFile& file) {
  uint64_t sum = file.version() + file.alignment();
  for (const auto& [key, value] : file.metadata()) {
    sum += key.size();
    if (auto s = file.get_string(key)) sum += s->size();
    if (auto i = file.get_int(key)) sum += static_cast<uint64_t>(*i);
    if (auto f = file.get_float(key)) sum += *f > 0;
    if (auto b = file.get_bool(key)) sum += *b;
    if (auto a = file.get_string_array(key)) for (auto s : *a) sum += s.size();
    if (auto a = file.get_int_array(key)) sum += a->size();
    if (auto a = file.get_float_array(key)) sum += a->size();
  }
  for (const auto& t : file.tensors()) {
    const auto bytes = file.tensor_data(t);
    if (!bytes.empty()) sum += static_cast<uint8_t>(bytes.front()) + static_cast<uint8_t>(bytes.back());
    sum += static_cast<uint64_t>(t.n_elements()) + static_cast<uint64_t>(t.rows());
  }
  return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = fuzz::write_input(data, size, "gguf_model");
  volatile uint64_t sink = 0;
  fuzz::expect_clean_rejection([&] {
    const auto file = GgufFile::open(path);
    sink = sink + touch_everything(file);
    fuzz::expect_clean_rejection([&] {
      const Tokenizer tokenizer(tokenizer_data_from_gguf(file));
      const auto ids = tokenizer.encode("Hello world, <|im_start|> 12 ü\n", true, true);
      sink = sink + tokenizer.decode(ids).size();
    });
  });
  fuzz::expect_clean_rejection([&] {
    const auto weights = ModelWeights::load(path);
    EngineOptions options;
    options.n_threads = 1;
    options.n_ctx = 4;
    options.max_batch = 2;
    DenseEngine engine(weights, options);
    const int32_t tokens[2] = {0, weights->config().n_vocab - 1};
    engine.eval(tokens, false);
    sink = sink + (engine.logits()[0] > 0);
  });
  return 0;
}
