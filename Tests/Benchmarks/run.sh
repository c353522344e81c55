#!/usr/bin/env bash
# Benchmarks of mm1conv against its Python peers, in one run on one machine; prints medians and ratios.
# Usage: bash Tests/Benchmarks/run.sh [GIB=1] [RUNS=5]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-/opt/mm1py/bin/python}
GIB=${1:-1}
RUNS=${2:-5}
SPARSE=${SPARSE_DIR:-/tmp/mm1conv-bench-sparse}
swift build -c release --product mm1bench >/dev/null
BIN=.build/release/mm1bench
$PY Tests/Benchmarks/make_sparse_checkpoint.py "$SPARSE" 7 8
results=$(mktemp)
for dtype in bf16 f16; do
  $BIN convert $dtype "$GIB" "$RUNS" | tee -a "$results"
  $PY Tests/Benchmarks/peer.py convert $dtype "$GIB" "$RUNS" | tee -a "$results"
done
$BIN open "$SPARSE" 50 | tee -a "$results"
$PY Tests/Benchmarks/peer.py open "$SPARSE" 50 | tee -a "$results"
$PY - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def get(impl, bench, dtype=None):
    return next(r for r in rows if r["impl"] == impl and r["bench"] == bench and r.get("dtype") == dtype)
for d in ["BF16", "F16"]:
    a, b = get("mm1conv", "convert", d), get("python", "convert", d)
    print(f"{d}->F32: mm1conv {a['gib_per_s']:.2f} GiB/s, numpy {b['gib_per_s']:.2f} GiB/s: {a['gib_per_s'] / b['gib_per_s']:.1f}x")
a, b = get("mm1conv", "open"), get("python", "open")
print(f"open+list {a['tensors']} tensors: mm1conv with index checks {a['median_s'] * 1000:.2f} ms, shards only "
      f"{a['shards_only_median_s'] * 1000:.2f} ms (peak RSS {a['peak_rss'] / 2**20:.0f} MiB); safe_open {b['median_s'] * 1000:.2f} ms "
      f"(peak RSS {b['peak_rss'] / 2**20:.0f} MiB): time ratios {a['median_s'] / b['median_s']:.2f}x and {a['shards_only_median_s'] / b['median_s']:.2f}x")
PY
