"""One row per library: reads, mapped, duplicates (samtools flagstat), reads
passing the MAPQ and length filter, reads before and after fastp, and the
terminal damage (crest's summed profile: damage.tsv). Written as
summary.tsv, and with the damage curves as MultiQC custom content
(crest_summary_mqc.tsv, crest_damage_mqc.tsv)."""

import json
import os
import subprocess


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


def count(bam):
    """Records in a BAM (samtools view -c; no shell)."""
    out = subprocess.run(["samtools", "view", "-c", "--", bam],
                         check=True, capture_output=True, text=True)
    return int(out.stdout.strip())


def fastp(path):
    """(reads before, reads after) from fastp's JSON; merged pairs count once."""
    if path is None:
        return ("NA", "NA")
    with open(path) as f:
        j = json.load(f)
    before = j["summary"]["before_filtering"]["total_reads"]
    after = j["summary"]["after_filtering"]["total_reads"]
    if "merged_and_filtered" in j:
        # paired: before counts both mates; after, the merged reads
        before //= 2
        after = j["merged_and_filtered"]["total_reads"]
    return (before, after)


COLS = [
    "library", "sample", "raw_reads", "reads", "mapped", "mapped_pct", "duplicates",
    "dup_pct", "filtered", "CtoT_5p_1", "CtoT_5p_2", "GtoA_3p_1", "GtoA_3p_2", "other_5p_1",
]

MQC_TABLE = """# id: 'crest_summary'
# section_name: 'crest'
# description: 'Reads per library: before and after adapter removal and merging
#   (fastp), mapped by crest, duplicates (crest dedup), passing the MAPQ and length
#   filter, and the terminal damage.'
# plot_type: 'table'
# pconfig:
#     id: 'crest_summary_table'
#     namespace: 'crest'
"""

MQC_DAMAGE = """# id: 'crest_damage'
# section_name: 'crest: damage'
# description: 'C→T at the 5′ end (positions 1 to 25), from crest''s damage profile.'
# plot_type: 'linegraph'
# pconfig:
#     id: 'crest_damage_plot'
#     xlab: 'position from the 5′ end'
#     ylab: 'C→T frequency'
"""


def main(sm):
    fastp_json = list(sm.input.fastp) or [None] * len(sm.params.libs)
    rows = []
    curves = []
    for lib, sample, fs, filt, dm, fj in zip(
        sm.params.libs, sm.params.samples, sm.input.flagstat, sm.input.filtered,
        sm.input.damage, fastp_json,
    ):
        f = flagstat(fs)
        d = damage(dm)
        reads = int(f.get("primary", f.get("total (QC-passed reads + QC-failed reads)", 0)))
        mapped = int(f.get("primary mapped", f.get("mapped", 0)))
        dups = int(f.get("primary duplicates", f.get("duplicates", 0)))
        pct = lambda n: f"{100.0 * n / reads:.2f}" if reads else "NA"
        raw, _ = fastp(fj)
        rows.append([
            lib, sample, raw, reads, mapped, pct(mapped), dups, pct(dups), count(filt),
            d[("5p", 1)]["C>T"], d[("5p", 2)]["C>T"],
            d[("3p", 1)]["G>A"], d[("3p", 2)]["G>A"], d[("5p", 1)]["other"],
        ])
        curves.append([lib] + [d[("5p", p)]["C>T"] for p in range(1, 26) if ("5p", p) in d])
    with open(sm.output.tsv, "w") as out:
        out.write("\t".join(COLS) + "\n")
        for r in rows:
            out.write("\t".join(str(x) for x in r) + "\n")
    with open(sm.output.mqc, "w") as out:
        out.write(MQC_TABLE)
        out.write("\t".join(["Library"] + COLS[1:]) + "\n")
        for r in rows:
            out.write("\t".join(str(x) for x in r) + "\n")
    with open(sm.output.damage, "w") as out:
        out.write(MQC_DAMAGE)
        width = max((len(c) - 1 for c in curves), default=0)
        out.write("\t".join(["Library"] + [str(p) for p in range(1, width + 1)]) + "\n")
        for c in curves:
            out.write("\t".join(c) + "\n")


main(snakemake)  # noqa: F821 (provided by Snakemake's script directive)
