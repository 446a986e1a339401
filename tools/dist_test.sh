#!/usr/bin/env bash
# Run drag tasks on NPROC processes (torchrun; NCCL on GPUs, gloo on CPUs).
#
#   bash tools/dist_test.sh CONFIG CHECKPOINT NPROC --tasks tasks.jsonl [args]
#
# CHECKPOINT: a path, a zoo name, or `none` for seeded random weights (the
# same in every process). Other arguments go to tools/test.py. Environment:
# NNODES, NODE_RANK, PORT (29500), MASTER_ADDR (127.0.0.1), PYTHON (default:
# the repository's .venv/bin/python, else python).

CONFIG=$1
CHECKPOINT=$2
NPROC=$3
if [[ -z "$CONFIG" || -z "$CHECKPOINT" || -z "$NPROC" ]]; then
    echo "usage: bash tools/dist_test.sh CONFIG CHECKPOINT|none NPROC --tasks FILE [args]" >&2
    exit 2
fi
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -z "$PYTHON" ]]; then
    if [[ -x "$ROOT/.venv/bin/python" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python; fi
fi

PYTHONPATH="$ROOT":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run \
    --nnodes=$NNODES \
    --node_rank=$NODE_RANK \
    --master_addr=$MASTER_ADDR \
    --nproc_per_node=$NPROC \
    --master_port=$PORT \
    "$ROOT/tools/test.py" \
    "$CONFIG" \
    "$CHECKPOINT" \
    --launcher pytorch \
    "${@:4}"
