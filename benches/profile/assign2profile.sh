#!/usr/bin/env bash
# assign2profile.sh ASSIGN.tsv OUT.tsv : per-read assignments -> profile (name reads fraction)
set -euo pipefail
awk -F'\t' '{n[$2]++; t++} END{
  print "name\treads\tfraction"
  split("saureus lambda phix human_mt mammoth_mt ambiguous unassigned", r, " ")
  for(i=1;i<=7;i++) printf "%s\t%d\t%.6f\n", r[i], n[r[i]], (t ? n[r[i]]/t : 0)}' "$1" > "$2"
