#!/usr/bin/env bash
# SV benchmark: crest sv vs minimap2 + the same chain-break caller.
set -euo pipefail
R=$(cd "$(dirname "$0")/../.." && pwd)
C=$R/target/release/crest
M=$R/assets/saureus_lambda_phix_mtdna.crest
L=$R/../shared/data/lambda_phage.fa
D=${WORK:-/tmp/crest-sv-bench}; mkdir -p $D
cd $D
zcat $R/../shared/data/ecoli_k12_mg1655.fa.gz > ecoli.fa
# lambda, assembly-like queries: 20 replicates x 1 event per kind (100 bp - 5 kbp)
for s in $(seq 1 20); do
  $C simulate-sv --reference $L -o lam_$s.fa --vcf lam_${s}_truth.vcf --per-kind 1 --min-size 100 --max-size 5000 --spacing 500 --seed $s 2>>log.txt
  /usr/bin/time -f "crest lambda asm $s %e s" $C sv --model $M --reference $L --index $D/lambda.crest-index lam_$s.fa -o lam_${s}_crest.vcf 2>>log.txt
  /usr/bin/time -f "minimap2 lambda asm $s %e s" minimap2 -t 1 -c -x asm5 $L lam_$s.fa > lam_$s.paf 2>>mm2.log
  $C sv --paf lam_$s.paf --reference $L lam_$s.fa -o lam_${s}_mm2.vcf 2>>log.txt
done
# E. coli, assembly: 20 events per kind, 100 bp - 50 kbp, windows every 250 bp
$C simulate-sv --reference ecoli.fa -o eco.fa --vcf eco_truth.vcf --per-kind 20 --min-size 100 --max-size 50000 --spacing 1000 --seed 7 2>>log.txt
/usr/bin/time -f "crest ecoli asm %e s" $C sv --model $M --reference ecoli.fa --index $D/ecoli.crest-index eco.fa --step 250 -o eco_crest.vcf --plot eco_dot.svg 2>>log.txt
/usr/bin/time -f "minimap2 ecoli asm %e s" minimap2 -t 1 -c -x asm5 ecoli.fa eco.fa > eco.paf 2>>mm2.log
$C sv --paf eco.paf --reference ecoli.fa eco.fa -o eco_mm2.vcf 2>>log.txt
# lambda, long reads (8 kbp, 5% errors, 40 reads ~ 6.6x): 5 replicates
for s in 1 2 3 4 5; do
  $C simulate-sv --reference $L -o lamlr_$s.fa --vcf lamlr_${s}_truth.vcf --per-kind 1 --min-size 100 --max-size 5000 --spacing 500 --seed $((s+100)) --long-reads 40 --read-length 8000 --error-rate 0.05 --reads-out lamlr_${s}_reads.fa 2>>log.txt
  /usr/bin/time -f "crest lambda lr $s %e s" $C sv --model $M --reference $L --index $D/lambda.crest-index lamlr_${s}_reads.fa -n 6 --step 48 --min-support 2 -o lamlr_${s}_crest.vcf 2>>log.txt
  minimap2 -t 1 -c -x map-ont $L lamlr_${s}_reads.fa > lamlr_$s.paf 2>>mm2.log
  $C sv --paf lamlr_$s.paf --reference $L lamlr_${s}_reads.fa --min-support 2 -o lamlr_${s}_mm2.vcf 2>>log.txt
done
echo done >> log.txt
export CREST=$C
python3 $R/benches/sv/agg.py $L lam $(seq 1 20)
$C sv-eval --reference ecoli.fa --truth eco_truth.vcf eco_crest.vcf eco_mm2.vcf
python3 $R/benches/sv/agg.py $L lamlr 1 2 3 4 5
