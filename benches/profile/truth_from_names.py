#!/usr/bin/env python3
"""Per-read truth from crest read names.
usage: truth_from_names.py READS.fq TRUTH_MAP.tsv [TRUTH_PROFILE.tsv] [--contam FILE=GENOME ...]
Names: crest_<i>_<contig>_<pos>_<strand>_<len>; <contig> -> genome via contig2taxon.tsv,
E. coli (contig NC_000913*) -> 'unassigned'. Contaminant reads crest_<i>_contam_<file> need --contam
(e.g. --contam ecoli_k12_mg1655.fa.gz=unassigned). TRUTH_MAP: read <TAB> genome|unassigned."""
import os, sys
from collections import Counter

ROWS = ["saureus", "lambda", "phix", "human_mt", "mammoth_mt", "ambiguous", "unassigned"]
args, contam = [], {}
it = iter(sys.argv[1:])
for a in it:
    if a == "--contam":
        k, v = next(it).split("=", 1); contam[k] = v
    else:
        args.append(a)
if len(args) not in (2, 3):
    sys.exit(__doc__)
c2g = dict(l.rstrip("\n").split("\t") for l in open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "contig2taxon.tsv")))

def truth(name):
    rest = name.split("_", 2)[2]                      # drop 'crest_<i>_'
    if rest.startswith("contam_"):
        return contam[rest[len("contam_"):]]
    contig = rest.rsplit("_", 3)[0]                   # drop '_<pos>_<strand>_<len>'
    return "unassigned" if contig.startswith("NC_000913") else c2g[contig]

counts = Counter()
with open(args[0]) as fq, open(args[1], "w") as out:
    for i, line in enumerate(fq):
        if i % 4 == 0:
            name = line[1:].split()[0]
            t = truth(name); counts[t] += 1
            out.write(f"{name}\t{t}\n")
if len(args) == 3:
    n = sum(counts.values())
    with open(args[2], "w") as out:
        out.write("name\treads\tfraction\n")
        for r in ROWS:
            out.write(f"{r}\t{counts[r]}\t{counts[r] / n:.6f}\n")
