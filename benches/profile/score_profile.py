#!/usr/bin/env python3
"""Score profiles or per-read assignments.
  score_profile.py TRUTH.tsv PROFILE.tsv [PROFILE.tsv ...]
      L1 = sum over all names in truth or profile of |f_profile - f_truth| (missing = 0; range 0..2).
  score_profile.py --per-read TRUTH_MAP.tsv ASSIGN.tsv [ASSIGN.tsv ...]
      TRUTH_MAP / ASSIGN: read <TAB> genome|ambiguous|unassigned (truth: 'unassigned' = left-out genome).
      unassigned_acc  = left-out reads called unassigned;   false_unassigned = panel reads called unassigned;
      panel_acc       = panel reads called their true genome; panel_ambig   = panel reads called ambiguous;
      leftout_to_panel= left-out reads called a panel genome."""
import sys

def profile(path):
    with open(path) as f:
        assert f.readline().split() == ["name", "reads", "fraction"], f"{path}: bad header"
        return {n: float(fr) for n, _, fr in (l.split() for l in f if l.strip())}

def pairs(path):
    with open(path) as f:
        return dict(l.rstrip("\n").split("\t") for l in f if l.strip())

def frac(a, b):
    return f"{a / b:.4f} ({a}/{b})" if b else "NA (0/0)"

a = sys.argv[1:]
if len(a) >= 3 and a[0] == "--per-read":
    truth = pairs(a[1])
    for p in a[2:]:
        call = pairs(p)
        missing = set(truth) - set(call)
        if missing:
            print(f"warning: {len(missing)} truth reads absent from {p}; counted as unassigned", file=sys.stderr)
        c = {r: call.get(r, "unassigned") for r in truth}
        left = [r for r, t in truth.items() if t == "unassigned"]
        panel = [r for r, t in truth.items() if t != "unassigned"]
        print(f"{p}\tn={len(truth)}"
              f"\tunassigned_acc={frac(sum(c[r] == 'unassigned' for r in left), len(left))}"
              f"\tfalse_unassigned={frac(sum(c[r] == 'unassigned' for r in panel), len(panel))}"
              f"\tpanel_acc={frac(sum(c[r] == truth[r] for r in panel), len(panel))}"
              f"\tpanel_ambig={frac(sum(c[r] == 'ambiguous' for r in panel), len(panel))}"
              f"\tleftout_to_panel={frac(sum(c[r] not in ('unassigned', 'ambiguous') for r in left), len(left))}")
elif len(a) >= 2 and not a[0].startswith("-"):
    t = profile(a[0])
    for p in a[1:]:
        q = profile(p)
        l1 = sum(abs(q.get(n, 0.0) - t.get(n, 0.0)) for n in set(t) | set(q))
        print(f"{p}\tL1={l1:.6f}")
else:
    sys.exit(__doc__)
