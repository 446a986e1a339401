#!/usr/bin/env bash
# Create or update the project's virtual environment (.venv at the repo root).
#
#   bash tools/setup_env.sh            # runtime + tests
#   bash tools/setup_env.sh --browser  # also Debian's chromium (browser tests)
#
# Re-running on a ready machine does nothing (a stamp of the inputs is kept in
# .venv): seconds, not minutes. run.sh calls this before every command.
#
# Environment:
#   PYTHON=python3.11      interpreter that creates .venv (3.11 tested)
#   DRAGGAN_OWN_TORCH=1    keep the torch/torchvision already in .venv (create
#                          .venv yourself and install your torch first); mmcv
#                          is compiled against it
#   FORCE_CUDA=1           compile mmcv's CUDA kernels even if no GPU is
#                          visible (needs nvcc of torch's CUDA version)
#   TORCH_CUDA_ARCH_LIST   e.g. "8.0;9.0": only those GPU archs (faster build)
#   DRAGGAN_CACHE          where the compiled mmcv wheel is kept (default:
#                          mmagic-draggan/ inside pip's cache dir, so it lives
#                          and goes with pip's own wheel cache)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
MMCV_VERSION=2.1.0
# sha256 of mmcv-2.1.0.tar.gz on PyPI
MMCV_SHA256=d387bcab66b467479b6660310e23746cfc79c6e57acf04094680adb499a5cd3f
WANT_BROWSER=0
[[ "${1:-}" == "--browser" ]] && WANT_BROWSER=1

log() { echo "[setup_env $(date +%T)] $*" >&2; }

install_browser() {
  if command -v chromium >/dev/null 2>&1; then return 0; fi
  log "installing Debian's chromium (browser tests)"
  local sudo=""
  [[ "$(id -u)" != 0 ]] && sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
}

stamp_inputs() {
  cat "$ROOT/tools/setup_env.sh" "$ROOT/setup.py" "$ROOT"/requirements/*.txt
  echo "own_torch=${DRAGGAN_OWN_TORCH:-0} force_cuda=${FORCE_CUDA:-0}"
}
STAMP="$(stamp_inputs | sha256sum | cut -d' ' -f1)"

if [[ -x "$VENV/bin/python" && -f "$VENV/.draggan-stamp" \
      && "$(cat "$VENV/.draggan-stamp")" == "$STAMP" ]]; then
  [[ $WANT_BROWSER == 1 ]] && install_browser
  exit 0
fi

START=$(date +%s)
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV with $("$PY" --version 2>&1)"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
CACHE="${DRAGGAN_CACHE:-$("$VPY" -m pip cache dir 2>/dev/null || echo "$HOME/.cache/pip")/mmagic-draggan}"
pip_install() { "$VPY" -m pip install --disable-pip-version-check -q "$@"; }

log "installing build tools and torch"
pip_install -r "$ROOT/requirements/build.txt"
if [[ "${DRAGGAN_OWN_TORCH:-0}" == 1 ]]; then
  "$VPY" -c "import torch" 2>/dev/null || {
    log "DRAGGAN_OWN_TORCH=1 but .venv has no torch: install yours first"; exit 1; }
else
  pip_install -r "$ROOT/requirements/torch.txt"
fi

# --- mmcv with compiled ops -------------------------------------------------
# No mmcv wheel on PyPI fits torch >= 2.13, so compile the 2.1.0 sdist once per
# (torch, CUDA) and keep the wheel in $CACHE. torch 2.14's headers need C++20
# and mmcv 2.1.0's setup.py hard-codes -std=c++14/17: raise those flags.
read -r TORCH_TAG USE_CUDA < <("$VPY" - <<'EOF'
import os, shutil, torch
cuda = (torch.version.cuda is not None and shutil.which('nvcc') is not None
        and (torch.cuda.is_available() or os.environ.get('FORCE_CUDA') == '1'))
print(torch.__version__.replace('+', '_'), 'cuda' if cuda else 'cpu')
EOF
)
WHEEL_DIR="$CACHE/wheels/mmcv-$MMCV_VERSION-torch$TORCH_TAG-$USE_CUDA-$("$VPY" -c 'import sys;print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
if ! "$VPY" -c "import mmcv, mmcv.ops" >/dev/null 2>&1 \
    || [[ "$("$VPY" -c 'import mmcv;print(mmcv.__version__)')" != "$MMCV_VERSION" ]]; then
  if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
    log "compiling mmcv $MMCV_VERSION ($USE_CUDA ops) against torch $TORCH_TAG;"
    log "this takes 15-30 min on 2 cores and is done once per machine"
    BUILD="$(mktemp -d)"
    trap 'rm -rf "$BUILD"' EXIT
    "$VPY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
      "mmcv==$MMCV_VERSION" -d "$BUILD"
    echo "$MMCV_SHA256  $BUILD/mmcv-$MMCV_VERSION.tar.gz" | sha256sum -c --quiet
    tar xzf "$BUILD/mmcv-$MMCV_VERSION.tar.gz" -C "$BUILD"
    sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$BUILD/mmcv-$MMCV_VERSION/setup.py"
    [[ $USE_CUDA == cuda ]] && export FORCE_CUDA=1
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "$VPY" -m pip wheel -q --no-build-isolation --no-deps \
      "$BUILD/mmcv-$MMCV_VERSION" -w "$BUILD/out"
    mkdir -p "$WHEEL_DIR"
    mv "$BUILD"/out/mmcv-*.whl "$WHEEL_DIR/"
  fi
  pip_install --no-deps --force-reinstall "$WHEEL_DIR"/mmcv-*.whl
fi

# --- everything else, pinned ------------------------------------------------
log "installing the pinned runtime (requirements/runtime.txt, tests.txt, mmagic)"
pip_install -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/tests.txt"
pip_install --no-deps "mmagic==1.2.0"
pip_install --no-deps -r "$ROOT/requirements/mim.txt"  # why: see that file
pip_install --no-deps --no-build-isolation -e "$ROOT"

"$VPY" -c "import mmagic_draggan, mmcv.ops" \
  || { log "the environment does not import; see the errors above"; exit 1; }
echo "$STAMP" > "$VENV/.draggan-stamp"
log "environment ready in $(( $(date +%s) - START )) s"
[[ $WANT_BROWSER == 1 ]] && install_browser
exit 0
