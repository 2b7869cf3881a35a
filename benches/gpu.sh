#!/usr/bin/env bash
# crest on a GPU machine, in at most ~8 minutes: one markdown table.
#
#   bash benches/gpu.sh            # writes $OUT/gpu_bench.md (OUT defaults to ./gpu-bench)
#
# What it measures (every step under its own `timeout`, so a slow step is
# reported as such and the script still ends in time):
#   1. kernels: `crest selftest --scale 8` (GFLOP/s per kernel family) against
#      the device's FP32 peak (from nvidia-smi's name; blank where unknown);
#   2. E. coli K-12 (../shared/data): 20,000 simulated aDNA reads (median 45,
#      deamination 0.3), index build time, `crest map --stats` reads/s and the
#      device traffic per batch, beside `bwa aln -t $(nproc)` on the same reads;
#   3. the real mammoth library JK2782 (9,892 merged reads) against mammoth
#      mtDNA, crest beside `bwa aln -t $(nproc)`;
#   4. any larger index present (yeast, C. elegans: `$OUT/*.crest-index` built
#      earlier with `crest index`) mapped with the E. coli reads' options.
# Needs: the crest binary (CREST, default target/release/crest; built with
# cargo if missing), python3 for the table; bwa and samtools if present.
set -uo pipefail
cd "$(dirname "$0")/.."
CREST=${CREST:-target/release/crest}
DATA=${DATA:-../shared/data}
OUT=${OUT:-gpu-bench}
NPROC=$(nproc)
DEVICE=${DEVICE:-gpu}   # cpu for a dry run here
N=${N:-20000}          # simulated reads per genome
mkdir -p "$OUT"
LOG="$OUT/gpu_bench.log"
: > "$LOG"
say() { echo "== $*" | tee -a "$LOG" >&2; }
t0=$(date +%s)

if [ ! -x "$CREST" ]; then
  say "building crest (release)"
  timeout 300 cargo build --release >>"$LOG" 2>&1 || { say "build failed"; exit 1; }
fi
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
GPU_NAME=${GPU_NAME:-unknown}
say "device: $GPU_NAME; $NPROC CPU cores; $("$CREST" --version 2>/dev/null)"
"$CREST" devices >>"$LOG" 2>&1

# 1. kernels
say "kernels (selftest --scale 8)"
timeout 120 "$CREST" selftest --device "$DEVICE" --scale 8 --json >"$OUT/selftest.json" 2>>"$LOG" \
  || say "selftest did not finish"

# seconds of a command, its exit status kept in $OUT/<name>.rc
timed() {
  local name=$1 limit=$2; shift 2
  local s e
  s=$(date +%s.%N)
  timeout "$limit" "$@" >>"$LOG" 2>&1
  echo $? >"$OUT/$name.rc"
  e=$(date +%s.%N)
  python3 -c "print(f'{$e-$s:.2f}')" >"$OUT/$name.s"
}

# 2. E. coli
ECOLI_FA="$OUT/ecoli.fa"
if [ -f "$DATA/ecoli_k12_mg1655.fa.gz" ]; then
  gzip -cd "$DATA/ecoli_k12_mg1655.fa.gz" >"$ECOLI_FA"
  say "E. coli: simulate $N reads"
  "$CREST" simulate --reference "$ECOLI_FA" -n "$N" --median 45 --deamination 0.3 --seed 7 \
    -o "$OUT/ecoli.fq" 2>>"$LOG"
  # an index left by an earlier run is reused (and not timed again)
  say "E. coli: crest index"
  [ -s "$OUT/ecoli.crest-index" ] || timed ecoli_index 200 "$CREST" index --device "$DEVICE" --model assets/ecoli_saureus_lambda_phix_mtdna.crest \
    --reference "$ECOLI_FA" -o "$OUT/ecoli.crest-index"
  say "E. coli: crest map"
  timed ecoli_map 150 "$CREST" map --device "$DEVICE" --model assets/ecoli_saureus_lambda_phix_mtdna.crest \
    --reference "$ECOLI_FA" --index "$OUT/ecoli.crest-index" -t "$NPROC" \
    --stats "$OUT/ecoli_map.json" -o "$OUT/ecoli.sam" "$OUT/ecoli.fq"
  if command -v bwa >/dev/null; then
    say "E. coli: bwa index + aln -t $NPROC"
    timed ecoli_bwa_index 60 bwa index "$ECOLI_FA"
    timed ecoli_bwa 60 sh -c "bwa aln -t $NPROC -l 1024 -n 0.01 -o 2 '$ECOLI_FA' '$OUT/ecoli.fq' > '$OUT/ecoli.sai' && bwa samse '$ECOLI_FA' '$OUT/ecoli.sai' '$OUT/ecoli.fq' > '$OUT/ecoli_bwa.sam'"
  fi
fi

# 3. JK2782 on mammoth mtDNA
JK="$DATA/mammoth_JK2782_merged.fq.gz"
if [ -f "$JK" ]; then
  say "JK2782: crest index + map"
  timed jk_index 60 "$CREST" index --device "$DEVICE" --model assets/mammoth_chrM.crest \
    --reference assets/mammoth_chrM.fa -o "$OUT/mt.crest-index"
  timed jk_map 120 "$CREST" map --device "$DEVICE" --model assets/mammoth_chrM.crest \
    --reference assets/mammoth_chrM.fa --index "$OUT/mt.crest-index" -t "$NPROC" \
    --stats "$OUT/jk_map.json" -o "$OUT/jk.sam" "$JK"
  if command -v bwa >/dev/null; then
    cp assets/mammoth_chrM.fa "$OUT/mt.fa"
    bwa index "$OUT/mt.fa" >>"$LOG" 2>&1
    timed jk_bwa 60 sh -c "bwa aln -t $NPROC -l 1024 -n 0.01 -o 2 '$OUT/mt.fa' '$JK' > '$OUT/jk.sai' && bwa samse '$OUT/mt.fa' '$OUT/jk.sai' '$JK' > '$OUT/jk_bwa.sam'"
  fi
fi

# 4. larger indexes built earlier (name.crest-index beside name.fa in $OUT)
for ix in "$OUT"/*.crest-index; do
  base=$(basename "$ix" .crest-index)
  case $base in ecoli|mt) continue ;; esac
  [ -f "$OUT/$base.fa" ] || continue
  [ $(( $(date +%s) - t0 )) -lt 360 ] || { say "no time left for $base"; break; }
  say "$base: map $N reads simulated from it"
  "$CREST" simulate --reference "$OUT/$base.fa" -n "$N" --median 45 --deamination 0.3 --seed 7 \
    -o "$OUT/$base.fq" 2>>"$LOG"
  timed "${base}_map" 120 "$CREST" map --device "$DEVICE" --model "${MODEL:-assets/ecoli_saureus_lambda_phix_mtdna.crest}" \
    --reference "$OUT/$base.fa" --index "$ix" -t "$NPROC" --stats "$OUT/${base}_map.json" \
    -o "$OUT/$base.sam" "$OUT/$base.fq"
done

python3 - "$OUT" "$GPU_NAME" "$NPROC" "$N" <<'EOF' >"$OUT/gpu_bench.md"
import json, os, sys, datetime
out, gpu, nproc, nsim = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
# vendor FP32 (non-tensor) peaks and memory bandwidth, for the ratios
PEAKS = {"H100": (67.0, 3350.0), "H200": (67.0, 4800.0), "A100": (19.5, 2039.0),
         "L40S": (91.6, 864.0), "RTX 4090": (82.6, 1008.0)}
peak = next((v for k, v in PEAKS.items() if k in gpu), None)
def rd(name):
    try:
        return float(open(f"{out}/{name}.s").read()), int(open(f"{out}/{name}.rc").read())
    except OSError:
        return None, None
def cell(name):
    s, rc = rd(name)
    if s is None:
        return "not run"
    return f"{s:.1f} s" + ("" if rc == 0 else f" (exit {rc}{', timed out' if rc == 124 else ''})")
print(f"GPU benchmark, {datetime.date.today()}: {gpu}, {nproc} CPU cores; `bash benches/gpu.sh`\n")
print("| kernel | shape | ms/call | GFLOP/s | of FP32 peak | GB/s | of memory bandwidth |")
print("|---|---|---|---|---|---|---|")
try:
    rows = json.load(open(f"{out}/selftest.json"))
    for r in rows:
        gf, gb = r.get("gflops", 0.0), r.get("gbps", 0.0)
        fpk = f"{100 * gf / (peak[0] * 1000):.1f}%" if peak and gf else ""
        bpk = f"{100 * gb / peak[1]:.1f}%" if peak and gb else ""
        print(f"| {r['op']} | {r.get('shape', '')} | {1e3 * r['seconds']:.2f} | {gf:.1f} | {fpk} | {gb:.1f} | {bpk} |")
except (OSError, ValueError, KeyError, TypeError) as e:
    print(f"| selftest | | not available ({e}) | | | | |")
print()
print("| reads | crest map | reads/s | per batch (steady state) | bwa aln -t %s | bwa reads/s | crest / bwa |" % nproc)
print("|---|---|---|---|---|---|---|")
for label, name, n, bwa in [(f"E. coli, {nsim:,} simulated (median 45)", "ecoli_map", nsim, "ecoli_bwa"),
                            ("JK2782 mammoth, 9,892 real", "jk_map", 9892, "jk_bwa")] + [
        (f"{f[:-9]}, {nsim:,} simulated", f"{f[:-9]}_map", nsim, None)
        for f in sorted(os.listdir(out)) if f.endswith("_map.json") and f[:-9] not in ("ecoli", "jk")]:
    s, rc = rd(name)
    rps = f"{n / s:,.0f}" if s and rc == 0 else ""
    try:
        st = json.load(open(f"{out}/{name}.json"))
        c = st.get("steady_state_per_batch") or {}
        per = f"{c.get('dispatches', 0)} dispatches, {c.get('submissions', 0)} submits, {c.get('waits', 0)} waits, {c.get('buffers_created', 0)} new buffers, {c.get('bytes_up', 0) / 1e6:.1f}/{c.get('bytes_down', 0) / 1e6:.1f} MB up/down"
    except (OSError, ValueError):
        per = ""
    bs, brc = rd(bwa) if bwa else (None, None)
    brps = f"{n / bs:,.0f}" if bs and brc == 0 else ""
    ratio = f"{bs / s:.2f}x" if s and bs and rc == 0 and brc == 0 else ""
    print(f"| {label} | {cell(name)} | {rps} | {per} | {cell(bwa) if bwa else ''} | {brps} | {ratio} |")
print()
print(f"E. coli index build: {cell('ecoli_index')}; mtDNA index: {cell('jk_index')}.")
EOF
cat "$OUT/gpu_bench.md"
say "done in $(( $(date +%s) - t0 )) s"
