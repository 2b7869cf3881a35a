"""One row per library: reads, mapped, duplicates (samtools flagstat) and the
terminal damage (crest's summed profile: damage.tsv)."""

import os


def flagstat(path):
    """description -> passed-QC count, from `samtools flagstat -O tsv`."""
    out = {}
    with open(path) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 3:
                out[fields[2]] = fields[0]
    return out


def damage(folder):
    """(end, pos) -> row of damage.tsv."""
    rows = {}
    with open(os.path.join(folder, "damage.tsv")) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            r = dict(zip(header, line.rstrip("\n").split("\t")))
            rows[(r["end"], int(r["pos"]))] = r
    return rows


def main(sm):
    cols = [
        "library", "sample", "reads", "mapped", "mapped_pct", "duplicates",
        "dup_pct", "CtoT_5p_1", "CtoT_5p_2", "GtoA_3p_1", "GtoA_3p_2", "other_5p_1",
    ]
    with open(sm.output[0], "w") as out:
        out.write("\t".join(cols) + "\n")
        for lib, sample, fs, dm in zip(
            sm.params.libs, sm.params.samples, sm.input.flagstat, sm.input.damage
        ):
            f = flagstat(fs)
            d = damage(dm)
            reads = int(f.get("primary", f.get("total (QC-passed reads + QC-failed reads)", 0)))
            mapped = int(f.get("primary mapped", f.get("mapped", 0)))
            dups = int(f.get("primary duplicates", f.get("duplicates", 0)))
            pct = lambda n: f"{100.0 * n / reads:.2f}" if reads else "NA"
            out.write("\t".join(str(x) for x in [
                lib, sample, reads, mapped, pct(mapped), dups, pct(dups),
                d[("5p", 1)]["C>T"], d[("5p", 2)]["C>T"],
                d[("3p", 1)]["G>A"], d[("3p", 2)]["G>A"], d[("5p", 1)]["other"],
            ]) + "\n")


main(snakemake)  # noqa: F821 (provided by Snakemake's script directive)
