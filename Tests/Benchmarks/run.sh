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
# Two layouts of the same MM1-30B-shaped checkpoint: tensors in model order (headers and index to be sorted: the
# hard case) and as save_pretrained writes them (sorted).
$PY Tests/Benchmarks/make_sparse_checkpoint.py "$SPARSE" 10
$PY Tests/Benchmarks/make_sparse_checkpoint.py "$SPARSE-sorted" 10 --sorted
results=$(mktemp)
for dtype in bf16 f16; do
  $BIN convert $dtype "$GIB" "$RUNS" | tee -a "$results"
  $PY Tests/Benchmarks/peer.py convert $dtype "$GIB" "$RUNS" | tee -a "$results"
done
# Short interleaved rounds (this machine's speed drifts by up to 1.7x within seconds): the ratio is the median of
# the rounds' ratios, and the ratio of the fastest opens.
opens=$(mktemp)
for round in $(seq 15); do
  for layout in model-order sorted; do
    dir=$SPARSE; [ $layout = sorted ] && dir=$SPARSE-sorted
    $BIN open "$dir" 100 | sed "s/^{/{\"layout\":\"$layout\",/" >> "$opens"
    $PY Tests/Benchmarks/peer.py open "$dir" 100 | sed "s/^{/{\"layout\":\"$layout\",/" >> "$opens"
  done
done
$PY - "$results" "$opens" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def get(impl, bench, dtype=None):
    return next(r for r in rows if r["impl"] == impl and r["bench"] == bench and r.get("dtype") == dtype)
for d in ["BF16", "F16"]:
    a, b = get("mm1conv", "convert", d), get("python", "convert", d)
    print(f"{d}->F32: mm1conv {a['gib_per_s']:.2f} GiB/s, numpy {b['gib_per_s']:.2f} GiB/s: {a['gib_per_s'] / b['gib_per_s']:.1f}x")
opens = [json.loads(l) for l in open(sys.argv[2])]
for layout in ["model-order", "sorted"]:
    ours = [r for r in opens if r["impl"] == "mm1conv" and r["layout"] == layout]
    peer = [r for r in opens if r["impl"] == "python" and r["layout"] == layout]
    def ratio(key):
        return statistics.median(a[key] / b["median_s"] for a, b in zip(ours, peer))
    ms = lambda rs, key: statistics.median(r[key] for r in rs) * 1000
    print(f"open+list, {layout} checkpoint, {ours[0]['tensors']} tensors, {len(ours)} interleaved rounds: mm1conv with index checks "
          f"{ms(ours, 'median_s'):.2f} ms, shards only {ms(ours, 'shards_only_median_s'):.2f} ms (peak RSS "
          f"{max(r['peak_rss'] for r in ours) / 2**20:.0f} MiB); safe_open {ms(peer, 'median_s'):.2f} ms (peak RSS "
          f"{max(r['peak_rss'] for r in peer) / 2**20:.0f} MiB)")
    print(f"  time ratio, median of rounds: {ratio('median_s'):.2f}x with index checks, {ratio('shards_only_median_s'):.2f}x shards only; "
          f"fastest opens: {min(r['min_s'] for r in ours) / min(r['min_s'] for r in peer):.2f}x and "
          f"{min(r['shards_only_min_s'] for r in ours) / min(r['min_s'] for r in peer):.2f}x")
PY
