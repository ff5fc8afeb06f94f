#!/usr/bin/env bash
# Every table of docs/benchmarks.md in one command: the three cost tables, then the DeepPCB CPU accuracy study.
# Usage: examples/reproduce_benchmarks.sh [DEEPPCB_TRAINVAL_DIR] [OUT] [EPOCHS] [SEEDS...]
# Writes OUT/cost-s, OUT/cost-n, OUT/cost-n-320 and OUT/deeppcb-cpu (CSV, Markdown and PNG in each), the same
# layout as docs/bench/. Run it on an otherwise idle machine: the latency figures are wall-clock medians.
set -euo pipefail
SRC=${1:-../shared/data/DeepPCB-trainval}
OUT=${2:-runs/benchmarks}
shift $(( $# < 2 ? $# : 2 )) || true
yolo-freq bench --scale s --imgsz 640 --runs 20 --threads 2 --out "$OUT/cost-s"
yolo-freq bench --scale n --imgsz 640 --runs 20 --threads 2 --out "$OUT/cost-n"
yolo-freq bench --scale n --imgsz 320 --runs 20 --threads 2 --out "$OUT/cost-n-320"
"$(dirname "$0")/bench_deeppcb_cpu.sh" "$SRC" "$OUT/deeppcb-cpu" "${@:-30}"
