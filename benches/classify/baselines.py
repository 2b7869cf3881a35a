#!/usr/bin/env python3
"""Benchmarks of `crest classify` (Scorpio's system) against the tools users
reach for today, on the same splits.

  baselines.py split16s IN.fa.gz OUTDIR [--seed 1] [--val 0.15] [--test 0.15]
      Leave-genus-out split of the 16S set: whole genera go to val or test
      (seeded shuffle of genera, filled to the given fractions of sequences),
      the rest to train. Writes train.fa, val.fa, test.fa and labels.tsv
      (id<TAB>domain;phylum;class;order;family;genus).

  baselines.py best-hit {mmseqs,blast} --train T.fa --query Q.fa --labels L
               [--id-column C] --levels a,b,c [--threads N]
      Best hit of every query in the training sequences (MMseqs2 easy-search
      nucleotide mode, or blastn -task blastn), its labels as the answer;
      prints `level <name> accuracy <a> n <n>` per level and queries/s.
      Queries without a hit count as wrong.
"""
import argparse
import csv
import gzip
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time


def read_fasta(path):
    op = gzip.open if path.endswith(".gz") else open
    name, seq = None, []
    with op(path, "rt") as f:
        for line in f:
            line = line.rstrip("\n\r")
            if line.startswith(">"):
                if name is not None:
                    yield name, "".join(seq)
                name, seq = line[1:], []
            elif line:
                seq.append(line.strip())
    if name is not None:
        yield name, "".join(seq)


def split16s(a):
    recs = list(read_fasta(a.input))
    ranks = ["d", "p", "c", "o", "f", "g"]
    rows = []
    for header, seq in recs:
        ident, tax = header.split(";tax=")
        fields = dict(x.split(":", 1) for x in tax.rstrip(";").split(","))
        rows.append((ident, [fields[r] for r in ranks], seq))
    genera = sorted({r[1][5] for r in rows})
    rng = random.Random(a.seed)
    rng.shuffle(genera)
    count = {}
    for r in rows:
        count[r[1][5]] = count.get(r[1][5], 0) + 1
    n = len(rows)
    split_of, filled = {}, {"val": 0, "test": 0}
    for g in genera:
        if filled["test"] < a.test * n:
            split_of[g] = "test"
        elif filled["val"] < a.val * n:
            split_of[g] = "val"
        else:
            split_of[g] = "train"
        if split_of[g] in filled:
            filled[split_of[g]] += count[g]
    os.makedirs(a.outdir, exist_ok=True)
    outs = {s: open(os.path.join(a.outdir, s + ".fa"), "w") for s in ("train", "val", "test")}
    with open(os.path.join(a.outdir, "labels.tsv"), "w") as lab:
        for ident, lin, seq in rows:
            outs[split_of[lin[5]]].write(f">{ident}\n{seq}\n")
            lab.write(f"{ident}\t{';'.join(lin)}\n")
    for f in outs.values():
        f.close()
    per = {s: sum(1 for r in rows if split_of[r[1][5]] == s) for s in ("train", "val", "test")}
    gen = {s: sum(1 for g in genera if split_of[g] == s) for s in ("train", "val", "test")}
    print(f"seed {a.seed}: sequences {per}, genera {gen}")


def load_labels(path, id_column, levels):
    out = {}
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rt") as f:
        if id_column:
            for row in csv.DictReader(f):
                out[row[id_column]] = [row[l] for l in levels]
        else:
            for line in f:
                ident, lab = line.rstrip("\n").split("\t")
                out[ident] = lab.split(";")
    return out


def plain_fasta(path, tmp, name):
    """A plain, upper-case FASTA copy with record ids only (for makeblastdb)."""
    dst = os.path.join(tmp, name)
    with open(dst, "w") as f:
        for h, s in read_fasta(path):
            f.write(f">{h.split()[0]}\n{s.upper()}\n")
    return dst


def best_hit(a):
    levels = a.levels.split(",")
    labels = load_labels(a.labels, a.id_column, levels)
    queries = [h.split()[0] for h, _ in read_fasta(a.query)]
    tmp = tempfile.mkdtemp(prefix="crest-baseline-")
    try:
        t = plain_fasta(a.train, tmp, "train.fa")
        q = plain_fasta(a.query, tmp, "query.fa")
        out = os.path.join(tmp, "hits.tsv")
        t0 = time.time()
        if a.tool == "mmseqs":
            cmd = ["mmseqs", "easy-search", q, t, out, os.path.join(tmp, "mm"),
                   "--search-type", "3", "--threads", str(a.threads), "-v", "1"]
            subprocess.run(cmd, check=True)
        else:
            subprocess.run(["makeblastdb", "-in", t, "-dbtype", "nucl", "-out",
                            os.path.join(tmp, "db")], check=True, stdout=subprocess.DEVNULL)
            cmd = ["blastn", "-task", "blastn", "-query", q, "-db", os.path.join(tmp, "db"),
                   "-outfmt", "6 qseqid sseqid evalue bitscore", "-max_target_seqs", "5",
                   "-num_threads", str(a.threads), "-out", out]
            subprocess.run(cmd, check=True)
        secs = time.time() - t0
        best = {}
        with open(out) as f:
            for line in f:
                p = line.rstrip("\n").split("\t")
                qid, sid, bits = p[0], p[1], float(p[-1])
                if qid not in best or bits > best[qid][1]:
                    best[qid] = (sid, bits)
    finally:
        shutil.rmtree(tmp)
    print(f"{a.tool}: {len(queries)} queries, {len(best)} with a hit, {secs:.1f} s "
          f"({len(queries) / max(secs, 1e-9):.0f} queries/s, {a.threads} threads); "
          f"command: {' '.join(cmd[:2])} ...")
    for i, l in enumerate(levels):
        right = sum(1 for qid in queries
                    if qid in best and labels[best[qid][0]][i] == labels[qid][i])
        print(f"level {l} accuracy {right / len(queries):.4f} n {len(queries)}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("split16s")
    s.add_argument("input")
    s.add_argument("outdir")
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--val", type=float, default=0.15)
    s.add_argument("--test", type=float, default=0.15)
    b = sub.add_parser("best-hit")
    b.add_argument("tool", choices=["mmseqs", "blast"])
    b.add_argument("--train", required=True)
    b.add_argument("--query", required=True)
    b.add_argument("--labels", required=True)
    b.add_argument("--id-column")
    b.add_argument("--levels", required=True)
    b.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    split16s(a) if a.cmd == "split16s" else best_hit(a)


if __name__ == "__main__":
    sys.exit(main())
