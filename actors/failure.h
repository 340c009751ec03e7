// How a failure inside an actor or its worker threads ends a request instead of hanging it
// (issue 17): an exception becomes the actor's exit reason, carrying the exception's text;
// the gpu-worker monitors the other actors and fails the step in flight with that reason.
#pragma once
#include <exception>
#include <string>
#include <string_view>

#include "caf/actor_addr.hpp"
#include "caf/actor_cast.hpp"
#include "caf/error.hpp"
#include "caf/exit_reason.hpp"
#include "caf/message_id.hpp"
#include "caf/sec.hpp"
#include "caf/system_messages.hpp"

namespace actinfer::actors {

// "who: what the exception says", as a runtime_error CAF can carry.
inline caf::error error_from(std::string_view who, const std::exception_ptr& e) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    what = x.what();
  } catch (...) {
  }
  return caf::make_error(caf::sec::runtime_error, std::string(who) + ": " + what);
}

// Ends the actor at `a` with `reason`, from any thread (e.g. a worker team's lead thread).
inline void exit_with(const caf::actor_addr& a, caf::error reason) {
  if (auto p = caf::actor_cast<caf::strong_actor_ptr>(a))
    p->enqueue(nullptr, caf::make_message_id(), caf::make_message(caf::exit_msg{a, std::move(reason)}), nullptr);
}

}  // namespace actinfer::actors
