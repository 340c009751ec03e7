#include "tools/interrupt.h"

#include <csignal>

#include "model/atomic_output.h"

namespace actinfer::tools {
namespace {

extern "C" void on_interrupt(int sig) {
  unlink_pending_outputs();  // async-signal-safe
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

}  // namespace

void install_interrupt_handlers() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sigaction(sig, &sa, nullptr);
  }
}

}  // namespace actinfer::tools
