#!/usr/bin/env bash
# PyTorch-checkpoint benchmark (issue 16), in one run on one machine, rounds interleaved, medians:
#   (a) open + list every tensor of a ~2.8 GB LLaVA-shaped sharded .bin checkpoint (f16):
#       `mm1conv inspect DIR` (whole process) vs torch.load(mmap=True, weights_only=True) on each shard + listing
#       (timed inside Python, so without `import torch`; the whole Python process is reported too). Goal <= 0.2x.
#   (b) import: `mm1conv import DIR` vs torch.load + rename + safetensors.torch.save_file (timed inside Python).
#       Goal >= 1.5x the throughput (bytes of tensors in / second).
#   (c) peak RSS of each (/usr/bin/time -v's maximum resident set size). Goal for mm1conv import:
#       <= 2 x the largest tensor + 64 MiB.
# Usage: bash Tests/Benchmarks/pickle.sh [ROUNDS=5] [IMPORT_ROUNDS=3]
# Environment: PY (Python with torch and safetensors, default /opt/torchpy/bin/python), BENCH_DIR (default
# /tmp/mm1conv-pickle-bench: the checkpoint is made there once and kept), SCRATCH (SwiftPM scratch path, default
# .build-bench), SKIP_BUILD=1 (use the mm1conv already built there), PEER_MMAP=1 (the import peer loads with mmap=True).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-/opt/torchpy/bin/python}
ROUNDS=${1:-5}
IMPORT_ROUNDS=${2:-3}
DIR=${BENCH_DIR:-/tmp/mm1conv-pickle-bench}
SRC=$DIR/src
OUT=$DIR/out
SCRATCH=${SCRATCH:-.build-bench}
[ "${SKIP_BUILD:-0}" = 1 ] || swift build -c release --product mm1conv --scratch-path "$SCRATCH" >/dev/null
BIN=$SCRATCH/release/mm1conv
[ -f "$SRC/pytorch_model.bin.index.json" ] || $PY Tests/Benchmarks/make_bin_checkpoint.py make "$SRC"
mkdir -p "$OUT"
results=$(mktemp)
cat "$SRC"/*.bin >/dev/null   # every round starts from a warm page cache

timed() {  # timed LABEL COMMAND...: one JSON line with wall seconds and peak RSS (bytes) of the whole process
  local label=$1; shift
  /usr/bin/time -v -o "$OUT/time.txt" "$@" >"$OUT/stdout.txt"
  local wall rss cpu
  cpu=$(awk -F': ' '/User time|System time/ {s+=$2} END {print s}' "$OUT/time.txt")
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$OUT/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2 * 1024}' "$OUT/time.txt")
  echo "{\"label\": \"$label\", \"wall_s\": $wall, \"cpu_s\": $cpu, \"peak_rss\": $rss, \"stdout\": $(tail -n 1 "$OUT/stdout.txt" | $PY -c 'import json,sys; s=sys.stdin.read().strip(); print(s if s.startswith("{") else json.dumps(s[:200]))')}" >>"$results"
}

# (a) open + list, interleaved
for i in $(seq "$ROUNDS"); do
  timed mm1conv-open "$BIN" inspect "$SRC"
  timed python-open "$PY" Tests/Benchmarks/make_bin_checkpoint.py open "$SRC" 3
done
# (b) import, interleaved
for i in $(seq "$IMPORT_ROUNDS"); do
  rm -rf "$OUT/pkg.mm1"
  timed mm1conv-import "$BIN" import "$SRC" --out "$OUT/pkg.mm1"
  rm -rf "$OUT/pkg.mm1" "$OUT/py"
  timed python-import "$PY" Tests/Benchmarks/make_bin_checkpoint.py peer "$SRC" "$OUT/py"
  rm -rf "$OUT/py"
done

$PY - "$results" "$SRC" <<'PY'
import json, os, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
src = sys.argv[2]
index = json.load(open(os.path.join(src, "pytorch_model.bin.index.json")))
tensor_bytes = index["metadata"]["total_size"]
files = sum(os.path.getsize(os.path.join(src, f)) for f in set(index["weight_map"].values()))
largest = 32000 * 4096 * 2
def of(label):
    return [r for r in rows if r["label"] == label]
med = statistics.median
mo, po = of("mm1conv-open"), of("python-open")
mi, pi = of("mm1conv-import"), of("python-import")
print(f"checkpoint: {len(set(index['weight_map'].values()))} shards, {len(index['weight_map'])} tensors, "
      f"{files / 1e9:.2f} GB on disk, {tensor_bytes / 1e9:.2f} GB of tensors; largest tensor {largest / 2**20:.0f} MiB")
a = med(r["wall_s"] for r in mo)
b_in = med(r["stdout"]["median_s"] for r in po)
b_proc = med(r["wall_s"] for r in po)
print(f"(a) open + list, {len(mo)} interleaved rounds: mm1conv inspect {a * 1000:.0f} ms (whole process, peak RSS "
      f"{max(r['peak_rss'] for r in mo) / 2**20:.0f} MiB); torch.load(mmap=True, weights_only=True) + listing "
      f"{b_in * 1000:.0f} ms in Python, {b_proc * 1000:.0f} ms as a process with import torch (peak RSS "
      f"{max(r['peak_rss'] for r in po) / 2**20:.0f} MiB)")
print(f"    time ratio mm1conv/torch: {a / b_in:.3f}x of torch.load's own time, {a / b_proc:.3f}x of the Python process "
      f"(goal <= 0.2x); median of per-round ratios {med(x['wall_s'] / y['stdout']['median_s'] for x, y in zip(mo, po)):.3f}x")
a = med(r["wall_s"] for r in mi)
b = med(r["stdout"]["seconds"] for r in pi)
b_proc = med(r["wall_s"] for r in pi)
print(f"(b) import, {len(mi)} interleaved rounds: mm1conv import {a:.2f} s = {tensor_bytes / a / 1e9:.2f} GB/s (peak RSS "
      f"{med(r['peak_rss'] for r in mi) / 2**20:.0f} MiB); torch.load + rename + save_file {b:.2f} s = "
      f"{tensor_bytes / b / 1e9:.2f} GB/s in Python, {b_proc:.2f} s as a process (peak RSS "
      f"{med(r['peak_rss'] for r in pi) / 2**20:.0f} MiB)")
print(f"    throughput ratio mm1conv/python: {b / a:.2f}x of the Python work, {b_proc / a:.2f}x of the Python process "
      f"(goal >= 1.5x)")
print(f"    CPU time (user + sys, whole processes; this machine is shared, so wall times drift): mm1conv import "
      f"{med(r['cpu_s'] for r in mi):.2f} s, Python import process {med(r['cpu_s'] for r in pi):.2f} s "
      f"({med(r['cpu_s'] for r in pi) / med(r['cpu_s'] for r in mi):.2f}x); mm1conv inspect {med(r['cpu_s'] for r in mo) * 1000:.0f} ms, "
      f"Python open process {med(r['cpu_s'] for r in po) * 1000:.0f} ms")
limit = 2 * largest + 64 * 2**20
print(f"(c) peak RSS: mm1conv inspect {max(r['peak_rss'] for r in mo) / 2**20:.0f} MiB, mm1conv import "
      f"{max(r['peak_rss'] for r in mi) / 2**20:.0f} MiB (goal <= 2 x largest + 64 MiB = {limit / 2**20:.0f} MiB); "
      f"python open {max(r['peak_rss'] for r in po) / 2**20:.0f} MiB, python import {max(r['peak_rss'] for r in pi) / 2**20:.0f} MiB")
PY
