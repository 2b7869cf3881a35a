#!/usr/bin/env bash
# GUE / Genomic Benchmarks table for `crest classify train --model` (issue 11).
# Usage: benches/classify/run_table.sh OUTDIR "DATASET..." [extra crest args]
#   DATASET: gue/mouse/0, gue/prom/prom_core_tata, gue/EMP/H3, gb/human_nontata_promoters, ...
# Env: CREST (binary), DATA (../shared/data/classify), DEVICE (--device value),
#      EPOCHS, MINUTES, BATCH, SEED, MODELS.
# Every dataset is trained with the same seed and budget for each model; where
# a dataset has no train split, the model trains on dev with a seeded 10%
# holdout for checkpoint selection, and is tested on test. Genomic Benchmarks
# ships only test splits here: a seeded 80/20 split of test (the 20% = test).
set -euo pipefail
OUT=$1; shift
SETS=$1; shift
CREST=${CREST:-target/release/crest}
DATA=${DATA:-../shared/data/classify}
DEVICE=${DEVICE:-auto}
EPOCHS=${EPOCHS:-2}
MINUTES=${MINUTES:-3}
BATCH=${BATCH:-32}
SEED=${SEED:-1}
MODELS=${MODELS:-"euclidean hybrid poincare"}
mkdir -p "$OUT"
pick() { for f in "$@"; do [ -e "$f" ] && { echo "$f"; return; }; done; return 1; }
for ds in $SETS; do
  tag=$(echo "$ds" | tr '/' '_')
  case $ds in
    gb/*)
      name=${ds#gb/}
      src=$(pick "$DATA/genomic_benchmarks/test_$name.csv.gz" "$DATA/genomic_benchmarks/test_$name.csv")
      python3 - "$src" "$OUT/$tag" "$SEED" <<'PY'
import gzip, random, sys
src, out, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
op = gzip.open if src.endswith('.gz') else open
lines = op(src, 'rt').read().splitlines()
head, rows = lines[0], [l for l in lines[1:] if l.strip()]
random.Random(seed).shuffle(rows)
cut = int(round(len(rows) * 0.8))
for part, rs in (('train', rows[:cut]), ('test', rows[cut:])):
    open(f'{out}.{part}.csv', 'w').write(head + '\n' + '\n'.join(rs) + '\n')
PY
      train="$OUT/$tag.train.csv"; test="$OUT/$tag.test.csv"; devargs=(--holdout 0.1) ;;
    *)
      d="$DATA/$ds"
      test=$(pick "$d/test.csv" "$d/test.csv.gz")
      if train=$(pick "$d/train.csv" "$d/train.csv.gz"); then
        devargs=(--dev "$(pick "$d/dev.csv" "$d/dev.csv.gz")")
      else
        train=$(pick "$d/dev.csv" "$d/dev.csv.gz"); devargs=(--holdout 0.1)
      fi ;;
  esac
  for m in $MODELS; do
    run="$OUT/$tag.$m"
    [ -s "$run.eval.json" ] && continue
    start=$(date +%s.%N)
    "$CREST" --device "$DEVICE" classify train --model "$m" --train "$train" "${devargs[@]}" \
      --epochs "$EPOCHS" --minutes "$MINUTES" --batch "$BATCH" --seed "$SEED" \
      --metrics "$run.jsonl" -o "$run.crest" "$@" 2> "$run.log"
    end=$(date +%s.%N)
    "$CREST" --device "$DEVICE" classify eval --model "$run.crest" --test "$test" --json > "$run.eval.tmp" 2>> "$run.log"
    python3 - "$run" "$ds" "$m" "$start" "$end" <<'PY'
import json, sys
run, ds, m, t0, t1 = sys.argv[1:]
ev = json.load(open(run + '.eval.tmp'))
ep = [json.loads(l) for l in open(run + '.jsonl') if l.strip()]
log = open(run + '.log').read()
params = int(log.split(' parameters')[0].split()[-1]) if ' parameters' in log else None
adapter = log.split('; on ')[-1].split('\n')[0] if '; on ' in log else '?'
best = max(ep, key=lambda e: e['dev_mcc'])
ev.update(dataset=ds, model=m, params=params, adapter=adapter, train_wall_s=float(t1) - float(t0),
          epochs_run=len(ep), steps=ep[-1]['step'], best_epoch=best['epoch'], dev_mcc=best['dev_mcc'],
          samples_per_s=sum(e['samples_per_s'] for e in ep) / len(ep), curvature=ep[-1].get('curvature'))
json.dump(ev, open(run + '.eval.json', 'w'))
PY
    rm -f "$run.eval.tmp"
    echo "$ds $m $(python3 -c "import json;print(round(json.load(open('$run.eval.json'))['mcc'],4))")"
  done
done
