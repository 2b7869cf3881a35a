#!/usr/bin/env bash
# Per-read Kraken2 assignment: read_assign_kraken.sh READS.fq OUT.tsv
# OUT.tsv: read name <TAB> saureus|lambda|phix|human_mt|mammoth_mt|ambiguous|unassigned (no header)
# DB: $K2DB (default: k2db beside this script); extra kraken2 options in $K2OPTS (e.g. "--confidence 0.1").
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DB=${K2DB:-$HERE/k2db}
kraken2 --db "$DB" --threads 1 ${K2OPTS:-} --report "$2.k2report" "$1" 2> "$2.k2log" |
  awk -F'\t' 'FILENAME==ARGV[1]{g[$2]=$1; next}
    {a = ($1=="U" || $3==0) ? "unassigned" : (($3 in g) ? g[$3] : "ambiguous"); print $2 "\t" a}' \
    "$HERE/genome_taxid.tsv" - > "$2"
