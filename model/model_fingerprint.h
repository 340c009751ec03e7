// Which model a side file (profile, predictor, placement) was made from. Shapes alone do not
// say: a fine-tune or a requantisation has the same shapes and other weights. The fingerprint
// hashes every tensor's name, type, shape and offset and a sample of its bytes (the first,
// middle and last 64), so it is cheap for any model size and changes with the weights.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace actinfer {

class GgufFile;
class GgufWriter;
struct ModelConfig;

// Metadata key of a side file: the fingerprint of the model it was made from.
inline constexpr std::string_view kModelFingerprintKey = "actinfer.model_fingerprint";

// 16 hex digits.
std::string model_fingerprint(const GgufFile& model);

// Records the model's fingerprint in a side file being written (nothing when it has none).
void add_model_fingerprint(GgufWriter& side_file, const ModelConfig& model);

// The error message when `side_file` (a `kind` such as "profile") was made from another model,
// nullopt when it matches. A file without a fingerprint (older actinfer) is accepted with a
// warning on stderr; so is any file when the model has no fingerprint (built in memory).
std::optional<std::string> model_fingerprint_mismatch(const GgufFile& side_file, const ModelConfig& model, std::string_view kind);

}  // namespace actinfer
