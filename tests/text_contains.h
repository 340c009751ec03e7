// Whether a message holds a phrase: what tests of errors and warnings check (C++20 has no
// std::string::contains yet).
#pragma once
#include <string_view>

namespace actinfer::testing {

inline bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

}  // namespace actinfer::testing
