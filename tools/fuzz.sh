#!/usr/bin/env bash
# Runs one libFuzzer target (tests/fuzz/README.md) for SECONDS, building it first in
# build-asan (clang, ASan + UBSan, no CUDA; the build tools/checked_builds.sh asan runs the tests
# in). New corpus entries go to build-asan/corpus/TARGET, a crashing input to
# build-asan/artifacts/TARGET/. Exit status non-zero on any finding.
#   tools/fuzz.sh TARGET SECONDS [extra libFuzzer flags]
#   tools/fuzz.sh list
#   tools/fuzz.sh configure      only configure build-asan (where it is not yet)
# Targets: gguf_model tokenizer deployment_config chat_template trace profile predictor placement
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS="gguf_model tokenizer deployment_config chat_template trace profile predictor placement"
BUILD=${ACTINFER_FUZZ_BUILD:-build-asan}

# The one definition of build-asan: tests and fuzz targets, every object under ASan + UBSan with
# libFuzzer's coverage hooks (-O1 and line tables only: quick to compile, readable stacks).
configure() {
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    local launcher=()
    if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
    CC=clang CXX=clang++ cmake -S . -B "$BUILD" -DACTINFER_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" -DACTINFER_SANITIZE=address,undefined \
      -DACTINFER_FUZZ=ON "${launcher[@]}" >/dev/null
  fi
}

case "${1:-}" in
  list) echo "$TARGETS"; exit 0 ;;
  configure) configure; exit 0 ;;
esac
if [ $# -lt 2 ]; then
  echo "usage: tools/fuzz.sh TARGET SECONDS [libFuzzer flags] (targets: $TARGETS)" >&2
  exit 2
fi
target=$1 seconds=$2
shift 2
case " $TARGETS " in *" $target "*) ;; *) echo "tools/fuzz.sh: unknown target '$target' (known: $TARGETS)" >&2; exit 2 ;; esac

configure
cmake --build "$BUILD" -j "${ACTINFER_FUZZ_JOBS:-2}" --target "fuzz_$target" >/dev/null

corpus=$BUILD/corpus/$target artifacts=$BUILD/artifacts/$target
mkdir -p "$corpus" "$artifacts"
# Inputs that once crashed a target must keep passing (tests/fuzz/regressions/TARGET/).
regressions=tests/fuzz/regressions/$target
if compgen -G "$regressions/*" >/dev/null; then
  if ! out=$("$BUILD/tests/fuzz/fuzz_$target" -runs=1 "$regressions"/* 2>&1); then
    tail -n 40 <<<"$out"
    echo "tools/fuzz.sh: $target fails on a regression input in $regressions" >&2
    exit 1
  fi
fi
# Limits: a 10 s input is a hang; 1 GiB in one allocation or 2 GiB resident a memory blow-up.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
dict=()
if [ -f "tests/fuzz/$target.dict" ]; then dict=(-dict="tests/fuzz/$target.dict"); fi
exec "$BUILD/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
  -print_final_stats=1 -artifact_prefix="$artifacts/" "${dict[@]}" "$@" "$corpus" "tests/fuzz/seeds/$target"
