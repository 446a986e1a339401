#!/usr/bin/env bash
# One entry point: sets up .venv if needed (tools/setup_env.sh), then runs.
#
#   bash run.sh demo [--config ...]   the Gradio demo on http://127.0.0.1:7860
#   bash run.sh test [pytest args]    the test suite (installs chromium too)
#   bash run.sh drag CONFIG ...       headless drag (tools/drag.py)
#   bash run.sh batch CONFIG ...      batch drags via the Runner (tools/test.py)
#   bash run.sh TOOL ...              any tools/TOOL.py (benchmark, test, ...)
#   bash run.sh setup                 only the environment
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$ROOT"
cmd="${1:-demo}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  setup) exec bash tools/setup_env.sh "$@" ;;
  test)
    bash tools/setup_env.sh --browser
    exec .venv/bin/python -m pytest tests "$@" ;;
  batch)
    bash tools/setup_env.sh
    exec .venv/bin/python tools/test.py "$@" ;;
  demo)
    bash tools/setup_env.sh
    exec .venv/bin/python demo/gradio_draggan.py "$@" ;;
  *)
    if [[ -f "tools/$cmd.py" ]]; then
      bash tools/setup_env.sh
      exec .venv/bin/python "tools/$cmd.py" "$@"
    fi
    echo "run.sh: unknown command '$cmd' (demo, test, setup, or a tools/*.py name)" >&2
    exit 2 ;;
esac
