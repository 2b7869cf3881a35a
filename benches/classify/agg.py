#!/usr/bin/env python3
"""Markdown table of a run_table.sh output folder: MCC on test per dataset and
model, parameters, training wall time, samples/s, and the hyperbolic-vs-Euclidean count."""
import glob, json, sys

out = sys.argv[1]
runs = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/*.eval.json"))]
models = ["euclidean", "hybrid", "poincare"]
by = {}
for r in runs:
    by.setdefault(r["dataset"], {})[r["model"]] = r
print("| dataset | " + " | ".join(f"{m} MCC" for m in models) + " | parameters (e/h/p) | train s (e/h/p) | seq/s (e/h/p) | steps of 32 (e/h/p) |")
print("|---|" + "---|" * (len(models) + 4))
wins = {"hybrid": 0, "poincare": 0}
complete = 0
for ds, rs in by.items():
    cell = lambda m, k, f: (f.format(rs[m][k]) if m in rs and rs[m].get(k) is not None else "–")
    print(f"| {ds} | " + " | ".join(cell(m, "mcc", "{:.3f}") for m in models)
          + " | " + "/".join(cell(m, "params", "{}") for m in models)
          + " | " + "/".join(cell(m, "train_wall_s", "{:.0f}") for m in models)
          + " | " + "/".join(cell(m, "samples_per_s", "{:.1f}") for m in models)
          + " | " + "/".join(cell(m, "steps", "{}") for m in models) + " |")
    if all(m in rs for m in models):
        complete += 1
        for h in wins:
            wins[h] += rs[h]["mcc"] > rs["euclidean"]["mcc"]
print()
print(f"Datasets with all three models: {complete}. Hybrid beats Euclidean on {wins['hybrid']}, "
      f"Poincaré beats Euclidean on {wins['poincare']}.")
adapters = sorted({r["adapter"] for r in runs})
print("Adapter(s): " + "; ".join(adapters))
