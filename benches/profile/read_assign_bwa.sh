#!/usr/bin/env bash
# Per-read BWA-aln assignment: read_assign_bwa.sh READS.fq OUT.tsv  (same output as read_assign_kraken.sh)
# Primary records: unmapped -> unassigned, MAPQ 0 -> ambiguous, MAPQ >= 1 -> genome of the contig.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BWA_DIR=${BWA_DIR:-$HERE/bwa}
REF=$BWA_DIR/panel.fa
if [ ! -e "$REF.sa" ]; then   # index once, cached
  mkdir -p "$BWA_DIR"; cp "${PANEL:?set PANEL to the panel FASTA}" "$REF"; bwa index "$REF" 2> "$BWA_DIR/index.log"
fi
bwa aln -l 1024 -n 0.01 -o 2 -t 1 "$REF" "$1" > "$2.sai" 2> "$2.bwalog"
bwa samse "$REF" "$2.sai" "$1" 2>> "$2.bwalog" | samtools view -F 0x900 - |
  awk -F'\t' 'FILENAME==ARGV[1]{g[$1]=$2; next}
    {a = (int($2/4)%2) ? "unassigned" : ($5>=1 ? g[$3] : "ambiguous"); if(a==""){print "no genome for " $3 > "/dev/stderr"; exit 1}
     print $1 "\t" a}' "$HERE/contig2taxon.tsv" - > "$2"
rm -f "$2.sai"
