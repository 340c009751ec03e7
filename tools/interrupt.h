// SIGINT/SIGTERM/SIGHUP: remove the temporaries of unfinished outputs (model/atomic_output.h),
// then die of the signal as before (the exit status still says which signal).
#pragma once

namespace actinfer::tools {

void install_interrupt_handlers();

}  // namespace actinfer::tools
