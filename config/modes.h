// The deployment's choices as enums, with the names config files and flags use. Apart
// from config/deployment_config.h so the backends and actors can name them alone.
#pragma once
#include <array>
#include <string_view>

namespace actinfer {

enum class Runtime { actors, dense };
enum class BackendKind { host, cuda };
// Which FFN neurons are computed (actors/predictor.h). automatic ("auto"): trained with a
// predictor file, threshold with a profile on a non-ReLU model, else oracle.
enum class PredictorMode { automatic, oracle, all, threshold, trained };
enum class SchedulerPolicy { sharing, stealing };  // CAF's scheduler.policy
// Pinning of the host gpu-worker's threads when host-cores is empty (config/host_pinning.h).
enum class HostPinning { automatic, off };

// The names used in config files and flags, in enum order.
inline constexpr std::array<std::string_view, 2> kRuntimeNames = {"actors", "dense"};
inline constexpr std::array<std::string_view, 2> kBackendNames = {"host", "cuda"};
inline constexpr std::array<std::string_view, 5> kPredictorNames = {"auto", "oracle", "all", "threshold", "trained"};
inline constexpr std::array<std::string_view, 2> kSchedulerPolicyNames = {"sharing", "stealing"};
inline constexpr std::array<std::string_view, 2> kHostPinningNames = {"auto", "off"};
inline constexpr std::array<std::string_view, 2> kCacheTypeNames = {"f32", "f16"};  // KvCacheType's order

inline std::string_view to_string(Runtime v) { return kRuntimeNames[static_cast<size_t>(v)]; }
inline std::string_view to_string(BackendKind v) { return kBackendNames[static_cast<size_t>(v)]; }
inline std::string_view to_string(PredictorMode v) { return kPredictorNames[static_cast<size_t>(v)]; }
inline std::string_view to_string(SchedulerPolicy v) { return kSchedulerPolicyNames[static_cast<size_t>(v)]; }
inline std::string_view to_string(HostPinning v) { return kHostPinningNames[static_cast<size_t>(v)]; }

}  // namespace actinfer
