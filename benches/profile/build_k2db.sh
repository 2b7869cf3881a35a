#!/usr/bin/env bash
# Build a Kraken2 DB from exactly $PANEL with a hand-made taxonomy.
# Usage: build_k2db.sh DBDIR [extra kraken2-build --build options, e.g. --kmer-len 25 --minimizer-len 21 --minimizer-spaces 5]
set -euo pipefail
DB=$1; shift
HERE=$(cd "$(dirname "$0")" && pwd)
PANEL=${PANEL:?set PANEL to the panel FASTA}
rm -rf "$DB"; mkdir -p "$DB/taxonomy"
# taxids: 1 root, 2 "panel" (common node), 101..105 the genomes (genome_taxid.tsv)
cat > "$HERE/genome_taxid.tsv" <<T
saureus	101
lambda	102
phix	103
human_mt	104
mammoth_mt	105
T
{ printf '1\t|\t1\t|\tno rank\t|\n2\t|\t1\t|\tno rank\t|\n'
  awk -F'\t' '{printf "%s\t|\t2\t|\tspecies\t|\n",$2}' "$HERE/genome_taxid.tsv"; } > "$DB/taxonomy/nodes.dmp"
{ printf '1\t|\troot\t|\t\t|\tscientific name\t|\n2\t|\tpanel\t|\t\t|\tscientific name\t|\n'
  awk -F'\t' '{printf "%s\t|\t%s\t|\t\t|\tscientific name\t|\n",$2,$1}' "$HERE/genome_taxid.tsv"; } > "$DB/taxonomy/names.dmp"
# rewrite headers to >kraken:taxid|N|CONTIG rest  (taxid token first, trailing '|' dropped:
# scan_fasta_file.pl strips a leading 'gi|' and a trailing '| ...' from the ID while build_db
# uses the raw first word, so 'gi|...|kraken:taxid|N' IDs never match and get silently skipped)
awk -F'\t' 'FILENAME~/contig2taxon/{g[$1]=$2; next} FILENAME~/genome_taxid/{t[$1]=$2; next}
  /^>/{c=substr($1,2); sub(/^>[^ \t]*/,""); if(!(c in g)){print "unknown contig " c > "/dev/stderr"; exit 1}
       id=c; sub(/\|$/,"",id); print ">kraken:taxid|" t[g[c]] "|" id $0; next} {print}' \
  "$HERE/contig2taxon.tsv" "$HERE/genome_taxid.tsv" FS=' ' "$PANEL" > "$DB/panel.taxid.fa"
kraken2-build --db "$DB" --threads 1 --add-to-library "$DB/panel.taxid.fa"
kraken2-build --db "$DB" --threads 1 --build "$@" 2>&1 | tee "$DB/build.log"
# the gi|-header bug shows up only as fewer processed sequences, so check the count
grep -q "Completed processing of $(grep -c "^>" "$PANEL") sequences" "$DB/build.log" || { echo "not all contigs were processed" >&2; exit 1; }
