#!/usr/bin/env bash
# The checked builds CI runs after the normal tests (.ci/run), each in its own build directory
# and without CUDA (the sanitizers and libFuzzer need clang; nvcc's host side is not instrumented):
#   tools/checked_builds.sh asan        ASan + UBSan build (build-asan) of the unit and CLI tests, all run
#   tools/checked_builds.sh tsan        TSan build (build-tsan): the actor runtime (teams included) and thread-pool tests
#   tools/checked_builds.sh emulation   the cuda backend on the CPU-emulated kernels (build-emu): its cuda tests
#   tools/checked_builds.sh fuzz SECS   every fuzz target for SECS seconds (tools/fuzz.sh; also build-asan)
#   tools/checked_builds.sh all [SECS]  all four (fuzz: SECS each, default 30)
#   tools/checked_builds.sh ci [SECS]   what .ci/run runs: all four, fuzz SECS each (default 20), the ASan
#                                       tests without those of the real models (ASAN_CI_EXCLUDE below)
# build-asan holds both the ASan + UBSan tests and the libFuzzer targets (clang, ACTINFER_FUZZ=ON):
# they link the same instrumented actinfer_core, so the fuzz targets cost one link each. Its objects
# also carry libFuzzer's coverage hooks (-fsanitize=fuzzer-no-link), which the tests never read.
# Non-zero exit on the first failure; each step prints its wall time. -O1 -gline-tables-only
# keeps the instrumented builds quick to compile and their reports' stacks readable.
# A sanitizer report fails the run even where the instrumented process was expected to fail
# (a CLI test of bad input): every report is also written under BUILD/sanitizer-reports/, and
# any file there after the tests is a failure.
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

# Fails (printing them) when the sanitizers wrote any report under $1.
no_reports() {
  local dir=$1
  if compgen -G "$dir/*" >/dev/null; then
    for f in "$dir"/*; do echo "== $f"; head -n 60 "$f"; done
    echo "checked build: sanitizer reports in $dir" >&2
    return 1
  fi
}

# CI leaves out the tests of the real models (SmolLM2-135M, the default, and Gemma 3 270M where
# `setup.sh --model gemma3` fetched it): under ASan each takes minutes on 2 cores where the same
# code paths run in seconds on the generated tiny models. By name: the doctest cases that load them
# ('SmolLM2', 'default model', 'Gemma 3 270M') and their numpy fixtures ('smollm2', 'gemma3_greedy');
# ('SmolLM2' also names the serve scheduler's cases on the default model: each has a twin on a tiny
# synthetic model, run here); cli_interrupt and cli_chat (Ctrl-C and chat under a pty or a pipe, with timing windows) and
# serve_openai_clients (the server under the PyPI openai client), all on the default model.
ASAN_CI_EXCLUDE='smollm2|SmolLM2|default model|Gemma 3 270M|gemma3_greedy|serve_openai_clients|cli_interrupt|cli_chat'

# ACTINFER_ASAN_EXCLUDE: a ctest -E regex of tests left out (ci: ASAN_CI_EXCLUDE).
asan() {
  tools/fuzz.sh configure
  cmake --build build-asan -j "$JOBS"
  local reports=$PWD/build-asan/sanitizer-reports exclude=()
  rm -rf "$reports" && mkdir -p "$reports"
  if [ -n "${ACTINFER_ASAN_EXCLUDE:-}" ]; then exclude=(-E "$ACTINFER_ASAN_EXCLUDE"); fi
  # ASan, LeakSanitizer (at every exit but the _exit of a second Ctrl-C; the CAF actor system and its
  # threads are gone by then) and UBSan (-fno-sanitize-recover=all: the first report ends the process)
  # share one runtime; its common log_path takes the last one set (UBSAN_OPTIONS), so one prefix for all.
  ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:halt_on_error=1:log_path=$reports/report \
  LSAN_OPTIONS=suppressions=$SUPP/lsan.supp:print_suppressions=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$reports/report \
    ctest --test-dir build-asan -j "$JOBS" --output-on-failure "${exclude[@]}"
  no_reports "$reports"
}

# Thread pool and team tests with no suppression; the actor runtime tests with tests/sanitizers/tsan.supp
# (CAF's uninstrumented message hand-off; the file says what that hides).
tsan() {
  configure build-tsan clang clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
    -DACTINFER_SANITIZE=thread
  cmake --build build-tsan -j "$JOBS" --target actinfer_concurrency_tests
  local reports=$PWD/build-tsan/sanitizer-reports status=0
  rm -rf "$reports" && mkdir -p "$reports"
  TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 log_path=$reports/threads" \
    build-tsan/tests/actinfer_concurrency_tests -sf='*test_thread_pool*' || status=$?
  if [ "$status" -eq 0 ]; then
    TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 suppressions=$SUPP/tsan.supp log_path=$reports/actors" \
      build-tsan/tests/actinfer_concurrency_tests -e='*test_thread_pool*' || status=$?
  fi
  no_reports "$reports" && [ "$status" -eq 0 ]
}

emulation() {
  configure build-emu cc c++ -DCMAKE_BUILD_TYPE=Release -DACTINFER_CUDA_EMULATION=ON
  # The core and the command compile as in setup.sh's build: ccache hits when that build is cached.
  CCACHE_BASEDIR=$PWD cmake --build build-emu -j "$JOBS" --target actinfer actinfer_cuda_tests
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
  mkdir -p build-asan
  for target in $(tools/fuzz.sh list); do
    log=build-asan/fuzz-$target.log status=0
    ACTINFER_FUZZ_JOBS=$JOBS tools/fuzz.sh "$target" "$seconds" >"$log" 2>&1 || status=$?
    echo "fuzz $target: $(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}') executions in $seconds s, exit $status"
    if [ "$status" -ne 0 ]; then
      tail -n 80 "$log"
      echo "fuzz target $target FAILED: the input is in build-asan/artifacts/$target/ (log $log)" >&2
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
    timed tsan tsan
    ACTINFER_ASAN_EXCLUDE=${ACTINFER_ASAN_EXCLUDE-$ASAN_CI_EXCLUDE} timed asan asan
    timed fuzz fuzz "${2:-20}"
    ;;
  *) echo "usage: tools/checked_builds.sh asan|tsan|emulation|fuzz SECONDS|all [SECONDS]|ci [SECONDS]" >&2; exit 2 ;;
esac
