#!/usr/bin/env bash
# Forward-pass benchmark (issue 4): mm1conv's reference forward vs PyTorch eager on the CPU, same "small" model
# (see forward_bench.py), same inputs, same thread count, interleaved ROUNDS times; prints medians and the ratio.
# Usage: bash Tests/Benchmarks/forward.sh [ROUNDS=3] [RUNS=5]     (MM1CONV_THREADS sets both sides' threads, default 2)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-/opt/mm1py/bin/python}
ROUNDS=${1:-3}
RUNS=${2:-5}
DIR=${FORWARD_BENCH_DIR:-/tmp/mm1conv-forward-bench}
export MM1CONV_THREADS=${MM1CONV_THREADS:-2}
swift build -c release --product mm1bench >/dev/null
swift build -c release --product mm1conv >/dev/null
[ -f "$DIR/reference.safetensors" ] || $PY Tests/Benchmarks/forward_bench.py prepare "$DIR"
[ -f "$DIR/model.mm1/mm1.json" ] || .build/release/mm1conv import "$DIR/model.safetensors" --config "$DIR/config.json" --dtype f32 --out "$DIR/model.mm1" >/dev/null
.build/release/mm1conv verify "$DIR/model.mm1" --reference "$DIR/reference.safetensors" | tail -1
results=$(mktemp)
for _ in $(seq "$ROUNDS"); do
  .build/release/mm1bench forward "$DIR/model.mm1" "$DIR/reference.safetensors" "$RUNS" | tee -a "$results"
  $PY Tests/Benchmarks/forward_bench.py torch "$RUNS" | tee -a "$results"
done
$PY - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ours = [r for r in rows if r["impl"] == "mm1conv"]
torch = [r for r in rows if r["impl"] == "pytorch"]
a = statistics.median(r["median_s"] for r in ours)
a2 = statistics.median(r["cached_median_s"] for r in ours)
b = statistics.median(r["median_s"] for r in torch)
c = statistics.median(r["no_connector_median_s"] for r in torch)
d = statistics.median(r["sdpa_median_s"] for r in torch)
# The peer is PyTorch's faster attention of the two in each round (transformers' eager and sdpa).
best = [min(t["median_s"], t["sdpa_median_s"]) for t in torch]
b_best = statistics.median(best)
ratios = [o["median_s"] / t for o, t in zip(ours, best)]
ratios2 = [o["cached_median_s"] / t for o, t in zip(ours, best)]
print(f"forward, {ours[0]['tokens']} tokens, {ours[0]['threads']} threads ({ours[0]['blas']}): "
      f"PyTorch {torch[0]['torch']} eager mode: {b:.3f} s with transformers' eager attention, {d:.3f} s with sdpa "
      f"(encoder + decoder without connector {c:.3f} s; "
      f"peak RSS {max(r['peak_rss'] for r in torch) / 2**20:.0f} MiB)")
print(f"  ratios against the faster of the two in each round (median {b_best:.3f} s):")
print(f"  mm1conv, weights read through the package mapping: {a:.3f} s, time ratio {a / b_best:.2f}x "
      f"(per round {', '.join(f'{x:.2f}' for x in ratios)})")
print(f"  mm1conv, weights kept in f32 after the first pass (as PyTorch holds them): {a2:.3f} s, time ratio {a2 / b_best:.2f}x "
      f"(per round {', '.join(f'{x:.2f}' for x in ratios2)}); peak RSS of the benchmark process (both modes) "
      f"{max(r['peak_rss'] for r in ours) / 2**20:.0f} MiB")
PY
