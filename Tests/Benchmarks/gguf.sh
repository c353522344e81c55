#!/usr/bin/env bash
# GGUF benchmark (issue 6): open + dequantize every tensor of a 1.09 GB Q8_0/Q4_0 file (written by gguf-py), mm1conv
# vs gguf-py's GGUFReader + gguf.quants.dequantize, interleaved ROUNDS times; prints medians and the ratio.
# Usage: bash Tests/Benchmarks/gguf.sh [ROUNDS=2] [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-/opt/mm1py/bin/python}
ROUNDS=${1:-2}
RUNS=${2:-3}
FILE=${GGUF_BENCH_FILE:-/tmp/mm1conv-gguf-bench.gguf}
export MM1CONV_THREADS=${MM1CONV_THREADS:-2}
swift build -c release --product mm1bench >/dev/null
[ -f "$FILE" ] || $PY Tests/Benchmarks/gguf_bench.py make "$FILE"
results=$(mktemp)
for _ in $(seq "$ROUNDS"); do
  .build/release/mm1bench gguf "$FILE" "$RUNS" | tee -a "$results"
  $PY Tests/Benchmarks/gguf_bench.py read "$FILE" "$RUNS" | tee -a "$results"
done
$PY - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
a = statistics.median(r["median_s"] for r in rows if r["impl"] == "mm1conv")
b = statistics.median(r["median_s"] for r in rows if r["impl"] == "gguf-py")
w = rows[0]["weights"]
print(f"GGUF open + dequantize all ({w / 1e9:.2f} G weights, Q8_0 + Q4_0): mm1conv {a:.3f} s ({w / a / 1e6:.0f} M weights/s), "
      f"gguf-py {b:.3f} s ({w / b / 1e6:.0f} M weights/s): {b / a:.1f}x")
PY
