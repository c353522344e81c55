#!/usr/bin/env bash
# Import benchmark (issue: import a >= 4 GB bf16 checkpoint to f16): mm1conv vs the Python path, one run each
# per round, RUNS rounds; prints medians, throughput and peak RSS. Usage: bash Tests/Benchmarks/import_bench.sh [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-/opt/mm1py/bin/python}
RUNS=${1:-3}
SRC=${BENCH_DIR:-/tmp/mm1conv-import-bench}/src
OUT=${BENCH_DIR:-/tmp/mm1conv-import-bench}/out
swift build -c release --product mm1conv >/dev/null
[ -f "$SRC/config.json" ] || $PY Tests/Benchmarks/import_bench.py make "$SRC"
results=$(mktemp)
for i in $(seq "$RUNS"); do
  rm -rf "$OUT"; mkdir -p "$OUT"
  /usr/bin/time -f '{"impl": "mm1conv", "seconds": %e, "peak_rss": %M}' -o "$OUT/time.json" \
    .build/release/mm1conv import "$SRC" --dtype f16 --out "$OUT/pkg.mm1" >/dev/null
  sed 's/"peak_rss": \([0-9]*\)}/"peak_rss": \1000}/' "$OUT/time.json" | tee -a "$results"   # %M is KiB; ~x1000 -> bytes (KiB*1024 below)
  rm -rf "$OUT/pkg.mm1"
  $PY Tests/Benchmarks/import_bench.py peer "$SRC" "$OUT/py" | tee -a "$results"
  rm -rf "$OUT/py"
done
$PY - "$results" "$SRC" <<'PY'
import json, os, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
size = sum(os.path.getsize(os.path.join(sys.argv[2], f)) for f in os.listdir(sys.argv[2]) if f.endswith(".safetensors"))
for r in rows:
    if r["impl"] == "mm1conv":
        r["peak_rss"] = r["peak_rss"] // 1000 * 1024
def med(impl, key): return statistics.median(r[key] for r in rows if r["impl"] == impl)
a, b = med("mm1conv", "seconds"), med("python", "seconds")
print(f"input {size / 1e9:.2f} GB bf16 -> f16; largest tensor 131 MB (2 x largest + 64 MiB = {(2 * 131072000 + 64 * 2**20) / 2**20:.0f} MiB)")
print(f"mm1conv: {a:.2f} s, {size / a / 1e9:.2f} GB/s, peak RSS {med('mm1conv', 'peak_rss') / 2**20:.0f} MiB")
print(f"python : {b:.2f} s, {size / b / 1e9:.2f} GB/s, peak RSS {med('python', 'peak_rss') / 2**20:.0f} MiB")
print(f"throughput ratio mm1conv/python: {b / a:.2f}x")
PY
