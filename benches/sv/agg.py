import json, subprocess, sys
# usage: agg.py REF PREFIX SEEDS...  (files PREFIX_{s}_truth.vcf, PREFIX_{s}_crest.vcf, PREFIX_{s}_mm2.vcf)
import os
C=os.environ.get("CREST", "target/release/crest")
ref, prefix = sys.argv[1], sys.argv[2]
seeds = sys.argv[3:]
for tool in ["crest", "mm2"]:
    acc = {}
    order = []
    for s in seeds:
        out = subprocess.run([C, "sv-eval", "--reference", ref, "--truth", f"{prefix}_{s}_truth.vcf", f"{prefix}_{s}_{tool}.vcf", "--json"], capture_output=True, text=True, check=True).stdout
        for row in json.loads(out)["rows"]:
            key = (row["kind"], row["size"])
            if key not in acc:
                acc[key] = dict(truth=0, found=0, calls=0, true_calls=0, bps=0.0, bpmax=0); order.append(key)
            a = acc[key]
            a["truth"] += row["truth"]; a["found"] += row["found"]
            a["calls"] += row["calls"] or 0; a["true_calls"] += row["true_calls"] or 0
            a["bps"] += row["bp_mean"] * row["found"]; a["bpmax"] = max(a["bpmax"], row["bp_max"])
    print(f"\n{tool} ({len(seeds)} replicates)\n")
    print("| kind | size | truth | found | recall | calls | precision | breakpoint error mean / max (bp) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    kinds = ["Del","Ins","Inv","Dup","Bnd"]
    for k in kinds:
        for key in [x for x in order if x[0]==k]:
            a = acc[key]
            allrow = key[1]=="all"
            rec = a["found"]/max(a["truth"],1)
            prec = (f'{a["true_calls"]/a["calls"]:.3f}' if a["calls"] else "–") if allrow else ""
            calls = str(a["calls"]) if allrow else ""
            bp = f'{a["bps"]/a["found"]:.1f} / {a["bpmax"]}' if a["found"] else "–"
            print(f'| {k.upper()} | {key[1]} | {a["truth"]} | {a["found"]} | {rec:.3f} | {calls} | {prec} | {bp} |')
