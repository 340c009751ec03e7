#!/usr/bin/env bash
# The checked builds CI runs after the normal tests (.ci/run), each in its own build directory
# and without CUDA (the sanitizers and libFuzzer need clang; nvcc's host side is not instrumented):
#   tools/checked_builds.sh asan        ASan + UBSan build (build-asan) of the unit and CLI tests, all run
#   tools/checked_builds.sh tsan        TSan build (build-tsan): the actor runtime (teams included) and thread-pool tests
#   tools/checked_builds.sh emulation   the cuda backend on the CPU-emulated kernels (build-emu): its cuda tests
#   tools/checked_builds.sh fuzz SECS   every fuzz target for SECS seconds (tools/fuzz.sh; build-fuzz)
#   tools/checked_builds.sh all [SECS]  all four (fuzz: SECS each, default 30)
#   tools/checked_builds.sh ci [SECS]   what .ci/run runs: emulation and fuzz (SECS each, default 20)
# Non-zero exit on the first failure; each step prints its wall time. -O1 -g keeps the
# instrumented builds quick to compile and their reports readable.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${ACTINFER_JOBS:-$(nproc)}
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
SUPP=$PWD/tests/sanitizers

configure() {  # DIR CC CXX ARGS...
  local dir=$1 cc=$2 cxx=$3
  shift 3
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    CC=$cc CXX=$cxx cmake -S . -B "$dir" -DACTINFER_CUDA=OFF "${launcher[@]}" "$@" >/dev/null
  fi
}

timed() {  # NAME COMMAND...
  local name=$1 start=$SECONDS
  shift
  echo "== checked build: $name"
  "$@"
  echo "== checked build: $name passed in $((SECONDS - start)) s"
}

asan() {
  configure build-asan clang clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DACTINFER_SANITIZE=address,undefined
  cmake --build build-asan -j "$JOBS"
  ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1 \
  LSAN_OPTIONS=suppressions=$SUPP/lsan.supp:print_suppressions=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan -j "$JOBS" --output-on-failure
}

tsan() {
  configure build-tsan clang clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DACTINFER_SANITIZE=thread
  cmake --build build-tsan -j "$JOBS" --target actinfer_concurrency_tests
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$SUPP/tsan.supp" \
    build-tsan/tests/actinfer_concurrency_tests
}

emulation() {
  configure build-emu cc c++ -DCMAKE_BUILD_TYPE=Release -DACTINFER_CUDA_EMULATION=ON
  cmake --build build-emu -j "$JOBS" --target actinfer actinfer_cuda_tests
  build-emu/tests/actinfer_cuda_tests
  # The command line with backend = cuda on the emulated device generates.
  local out
  out=$(build-emu/actinfer run -m tests/fuzz/seeds/model.gguf -p "hello" -n 4 --set actinfer.backend=cuda 2>&1)
  grep -q "generation: 4 tokens" <<<"$out" || { echo "$out"; echo "emulated cuda backend: run failed" >&2; return 1; }
  # And with an F16 KV cache (the backend says what it holds with -v).
  out=$(build-emu/actinfer run -m tests/fuzz/seeds/model.gguf -p "hello" -n 4 --set actinfer.backend=cuda --cache-type f16 -v 2>&1)
  grep -q "cache type       f16" <<<"$out" && grep -q "generation: 4 tokens" <<<"$out" ||
    { echo "$out"; echo "emulated cuda backend: run with --cache-type f16 failed" >&2; return 1; }
}

fuzz() {
  local seconds=${1:-30} target log status
  mkdir -p build-fuzz
  for target in $(tools/fuzz.sh list); do
    log=build-fuzz/fuzz-$target.log status=0
    ACTINFER_FUZZ_JOBS=$JOBS tools/fuzz.sh "$target" "$seconds" >"$log" 2>&1 || status=$?
    echo "fuzz $target: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') executions in $seconds s, exit $status"
    if [ "$status" -ne 0 ]; then
      tail -n 80 "$log"
      echo "fuzz target $target FAILED: the input is in build-fuzz/artifacts/$target/ (log $log)" >&2
      return 1
    fi
  done
}

case "${1:-}" in
  asan) timed asan asan ;;
  tsan) timed tsan tsan ;;
  emulation) timed emulation emulation ;;
  fuzz) timed fuzz fuzz "${2:-30}" ;;
  all)
    timed asan asan
    timed tsan tsan
    timed emulation emulation
    timed fuzz fuzz "${2:-30}"
    ;;
  ci)
    timed emulation emulation
    timed fuzz fuzz "${2:-20}"
    ;;
  *) echo "usage: tools/checked_builds.sh asan|tsan|emulation|fuzz SECONDS|all [SECONDS]|ci [SECONDS]" >&2; exit 2 ;;
esac
