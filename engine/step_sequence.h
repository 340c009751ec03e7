// One sequence's share of a forward step that carries several (a server's slots): its
// n_tokens tokens follow the previous sequences' in the step's rows and go to positions
// pos0.. of the KV cache of `slot`.
#pragma once

namespace actinfer {

struct StepSequence {
  int slot = 0;
  int pos0 = 0;
  int n_tokens = 0;
};

}  // namespace actinfer
