#!/usr/bin/env bash
# The species-profile benchmark of BENCHMARKS.md ("Species profiles"): a
# simulated aDNA community (six genomes of ../shared/data at known
# proportions; E. coli, 30% of the reads, is left out of the panel), profiled
# by crest, Kraken2 (a database of the same panel, hand-made taxonomy) and
# bwa aln + counting. Run from the repository root after `cargo build --release`;
# WORK is a scratch folder.
set -euo pipefail
C=$PWD/target/release/crest; D=$PWD/../shared/data; B=$PWD/benches/profile
WORK=${WORK:-/tmp/crest-profile-bench}; mkdir -p "$WORK"; cd "$WORK"
(zcat $D/saureus_nctc8325.fa.gz; cat $D/lambda_phage.fa $D/phix174.fa $D/human_chrM.fa $D/mammoth_chrM.fa) > panel.fa
export PANEL=$WORK/panel.fa BWA_DIR=$WORK/bwa
$C simulate --reference $D/ecoli_k12_mg1655.fa.gz -n 1800 --seed 201 -o ecoli.fq
$C simulate --reference $D/saureus_nctc8325.fa.gz -n 1500 --seed 202 -o saureus.fq
$C simulate --reference $D/lambda_phage.fa -n 1200 --seed 203 -o lambda.fq
$C simulate --reference $D/phix174.fa -n 600 --seed 204 -o phix.fq
$C simulate --reference $D/human_chrM.fa -n 450 --seed 205 -o human_mt.fq
$C simulate --reference $D/mammoth_chrM.fa -n 450 --seed 206 -o mammoth_mt.fq
cat saureus.fq lambda.fq phix.fq human_mt.fq mammoth_mt.fq ecoli.fq > community.fq
python3 $B/truth_from_names.py community.fq truth_map.tsv truth.tsv
$B/build_k2db.sh $WORK/k2db --kmer-len 25 --minimizer-len 21 --minimizer-spaces 5
K2DB=$WORK/k2db $B/profile_kraken.sh community.fq kraken.tsv
K2DB=$WORK/k2db K2OPTS="--minimum-hit-groups 1" $B/profile_kraken.sh community.fq kraken_mhg1.tsv
$B/profile_bwa.sh community.fq bwa.tsv
/usr/bin/time -v $C profile --model $OLDPWD/assets/saureus_lambda_phix_mtdna.crest --reference panel.fa \
  --index panel.crest-index --groups $B/contig2taxon.tsv community.fq -o crest.tsv --assignments crest_assign.tsv --plot crest_profile.svg
tail -n +2 crest_assign.tsv | cut -f1,2 > crest_assign2.tsv
python3 $B/score_profile.py truth.tsv crest.tsv bwa.tsv kraken.tsv kraken_mhg1.tsv
python3 $B/score_profile.py --per-read truth_map.tsv crest_assign2.tsv bwa.tsv.assign kraken.tsv.assign kraken_mhg1.tsv.assign
