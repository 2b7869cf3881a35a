//! The nearest-neighbour index: every index kernel against its CPU twin on
//! awkward sizes with poisoned outputs (both metrics), beam search on the
//! device against the twin, a beam as wide as the tree against exact search,
//! tree invariants, index files (round trip, refusals).

mod common;

use std::sync::Arc;

use common::{assert_close, gpu};
use crest::backend::{Backend, Tensor, Words};
use crest::index::{
    tree, BeamConfig, BuildConfig, DeviceTree, FlatIndex, Index, IndexOptions, ScanLayout,
    TreeShape,
};
use crest::io::{Contig, Reference};
use crest::model::{Checkpoint, Encoder, EncoderConfig};
use crest::ops::index::{
    self as ix, AssignDims, AssignInputs, BeamDims, BeamInputs, LeafDims, LeafInputs, Metric,
    Ranked, EMPTY, NONE,
};
use crest::ops::window_scan::ScanInputs;
use crest::rng::Rng;

/// Unit vectors (cosine) or points spread over the ball of curvature c.
fn points(rng: &mut Rng, n: usize, dim: usize, metric: Metric) -> Vec<f32> {
    let mut v: Vec<f32> = (0..n * dim).map(|_| rng.normal() as f32).collect();
    for row in v.chunks_mut(dim) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        let target = match metric {
            Metric::Cosine => 1.0,
            Metric::Poincare(c) => rng.range_f32(0.0, 0.97) / c.sqrt(),
        };
        row.iter_mut().for_each(|x| *x *= target / norm);
    }
    v
}

/// Points in clusters around a few centres (a tree has something to find).
fn clustered(rng: &mut Rng, n: usize, dim: usize, metric: Metric) -> Vec<f32> {
    let centres = points(rng, 7, dim, metric);
    let mut v = Vec::with_capacity(n * dim);
    for i in 0..n {
        let c = &centres[(i % 7) * dim..(i % 7 + 1) * dim];
        let mut row: Vec<f32> = c
            .iter()
            .map(|x| x + 0.15 * rng.normal() as f32 / (dim as f32).sqrt())
            .collect();
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        let target = match metric {
            Metric::Cosine => 1.0,
            Metric::Poincare(cv) => norm.min(0.97 / cv.sqrt()),
        };
        row.iter_mut().for_each(|x| *x *= target / norm);
        v.extend(row);
    }
    v
}

const METRICS: [Metric; 3] = [
    Metric::Cosine,
    Metric::Poincare(1.0),
    Metric::Poincare(0.37),
];

fn gbe(g: &Arc<crest::gpu::Gpu>) -> Backend {
    Backend::Gpu(g.clone())
}

fn poisoned(be: &Backend, n: usize) -> (Tensor, Words) {
    (
        be.upload(&vec![f32::NAN; n]).unwrap(),
        be.upload_words(&vec![0xdead_beef; n]).unwrap(),
    )
}

/// A search's outputs on the host.
fn ranked<'a>(scores: &'a mut [f32], ids: &'a mut [u32]) -> Ranked<&'a mut [f32], &'a mut [u32]> {
    Ranked { scores, ids }
}

/// A search's outputs on a backend.
fn ranked_be<'a>(
    scores: &'a mut Tensor,
    ids: &'a mut Words,
) -> Ranked<&'a mut Tensor, &'a mut Words> {
    Ranked { scores, ids }
}

/// (score, id) pairs of a search's outputs.
fn read_results(be: &Backend, s: &Tensor, ids: &Words) -> Vec<(f32, u32)> {
    be.read(s)
        .unwrap()
        .into_iter()
        .zip(be.read_words(ids).unwrap())
        .collect()
}

/// Random leaf offsets (`leaves` runs over `n` slots, some empty) and a
/// random slot → grid permutation.
fn random_slots(rng: &mut Rng, leaves: usize, n: usize) -> (Vec<u32>, Vec<u32>) {
    let mut cuts: Vec<u32> = (0..leaves - 1)
        .map(|_| rng.below(n as u64 + 1) as u32)
        .collect();
    cuts.sort();
    let mut offsets = vec![0u32];
    offsets.extend(cuts);
    offsets.push(n as u32);
    let mut perm: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        perm.swap(i, rng.below(i as u64 + 1) as usize);
    }
    (offsets, perm)
}

#[test]
fn assign_and_accumulate_match_twin() {
    let Some(g) = gpu() else { return };
    let be = gbe(&g);
    let mut rng = Rng::new(11);
    for metric in METRICS {
        for &(rows, dim, branch, groups) in &[
            (1usize, 3usize, 2usize, 1usize),
            (67, 17, 4, 3),
            (130, 128, 16, 5),
        ] {
            let data = points(&mut rng, rows, dim, metric);
            let cent = points(&mut rng, groups * branch, dim, metric);
            let row0 = 5;
            let group: Vec<u32> = (0..row0 + rows)
                .map(|_| rng.below(groups as u64) as u32)
                .collect();
            let blocked = ix::to_blocked(&data, dim);
            let d = AssignDims {
                rows,
                dim,
                branch,
                row0,
            };
            let n = row0 + rows;
            let mut s_cpu = vec![f32::NAN; n * branch];
            let mut b_cpu = vec![0xdead_beef; n];
            let cent = ix::pad_rows(&cent, dim);
            let inp = AssignInputs {
                data: &blocked[..],
                centroids: &cent[..],
                group: &group[..],
            };
            ix::assign_cpu(&d, inp, metric, &mut s_cpu, &mut b_cpu).unwrap();
            let (mut s, mut b) = poisoned(&be, n * branch);
            let mut bw = be.upload_words(&vec![0xdead_beef; n]).unwrap();
            let _ = &mut b;
            let inp = AssignInputs {
                data: &be.upload(&blocked).unwrap(),
                centroids: &be.upload(&cent).unwrap(),
                group: &be.upload_words(&group).unwrap(),
            };
            be.kmeans_assign(&d, inp, metric, &mut s, &mut bw).unwrap();
            let s_gpu = be.read(&s).unwrap();
            let b_gpu = be.read_words(&bw).unwrap();
            let lo = row0 * branch;
            assert_close(
                &format!("assign {metric:?} {rows}x{dim}"),
                &s_gpu[lo..],
                &s_cpu[lo..],
                1e-4,
                1e-5,
            );
            for r in row0..n {
                // the chosen child is a best one (ties within rounding allowed)
                let top = s_cpu[r * branch..(r + 1) * branch]
                    .iter()
                    .cloned()
                    .fold(f32::MIN, f32::max);
                assert!(
                    s_cpu[r * branch + b_gpu[r] as usize] >= top - 1e-5,
                    "assign best"
                );
            }
            // accumulate: members of each centroid with weights
            let nc = groups * branch;
            let members: Vec<(u32, u32)> = (0..rows)
                .map(|i| (rng.below(nc as u64) as u32, i as u32))
                .collect();
            let csr = ix::members_csr(&members, nc);
            let w: Vec<f32> = (0..rows).map(|_| rng.range_f32(0.5, 2.0)).collect();
            let init: Vec<f32> = (0..nc * dim).map(|_| rng.range_f32(-1.0, 1.0)).collect();
            let mut sums_cpu = init.clone();
            ix::accumulate_cpu(&blocked, &csr, &w, nc, dim, &mut sums_cpu).unwrap();
            let mut sums = be.upload(&init).unwrap();
            be.kmeans_accumulate(
                &be.upload(&blocked).unwrap(),
                &be.upload_words(&csr).unwrap(),
                &be.upload(&w).unwrap(),
                nc,
                dim,
                &mut sums,
            )
            .unwrap();
            assert_close(
                "accumulate",
                &be.read(&sums).unwrap(),
                &sums_cpu,
                1e-4,
                1e-5,
            );
        }
    }
}

/// Compare two result lists row by row: ids equal, except where the twin's
/// scores tie (within `tol`) around the position.
fn same_results(what: &str, got: &[(f32, u32)], want: &[(f32, u32)], m: usize, tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (r, (g, w)) in got.chunks(m).zip(want.chunks(m)).enumerate() {
        for i in 0..m {
            assert!(
                (g[i].0 - w[i].0).abs() <= tol * (1.0 + w[i].0.abs())
                    || (g[i].1 == NONE && w[i].1 == NONE),
                "{what}: row {r} rank {i}: score {} vs {}",
                g[i].0,
                w[i].0
            );
            if g[i].1 != w[i].1 {
                let tie = w
                    .iter()
                    .any(|x| x.1 == g[i].1 && (x.0 - g[i].0).abs() <= tol * (1.0 + x.0.abs()));
                assert!(tie, "{what}: row {r} rank {i}: id {} vs {}", g[i].1, w[i].1);
            }
        }
    }
}

#[test]
fn beam_step_and_leaf_scan_match_twin() {
    let Some(g) = gpu() else { return };
    let be = gbe(&g);
    let mut rng = Rng::new(12);
    for metric in METRICS {
        // a random 3-level tree of branch 4 over 3,001 slots (leaves of ~47,
        // some over 64 slots, some empty); 853 queries of dimension 19: two
        // uniform query windows (768 a window)
        let (b, depth, dim, nq) = (4usize, 3usize, 19usize, 853usize);
        let leaves = b.pow(depth as u32);
        let n = 3001usize;
        let (offsets, mut perm) = random_slots(&mut rng, leaves, n);
        let q = points(&mut rng, nq, dim, metric);
        let level2 = ix::pad_rows(&points(&mut rng, b * b, dim, metric), dim);
        let beam_in: Vec<u32> = (0..nq * 3)
            .map(|i| {
                if i % 3 == 2 {
                    NONE
                } else {
                    rng.below(b as u64) as u32
                }
            })
            .collect();
        let d = BeamDims {
            queries: nq,
            dim,
            branch: b,
            width_in: 3,
            width_out: 5,
            span: b,
        };
        let mut s_cpu = vec![f32::NAN; nq * 5];
        let mut i_cpu = vec![0u32; nq * 5];
        let inp = BeamInputs {
            queries: &q[..],
            centroids: &level2[..],
            beam_in: &beam_in[..],
            leaf_offsets: &offsets[..],
        };
        ix::beam_step_cpu(&d, inp, metric, ranked(&mut s_cpu, &mut i_cpu)).unwrap();
        let (mut s, mut ids) = poisoned(&be, nq * 5);
        let inp = BeamInputs {
            queries: &be.upload(&q).unwrap(),
            centroids: &be.upload(&level2).unwrap(),
            beam_in: &be.upload_words(&beam_in).unwrap(),
            leaf_offsets: &be.upload_words(&offsets).unwrap(),
        };
        be.beam_step(&d, inp, metric, ranked_be(&mut s, &mut ids))
            .unwrap();
        let got = read_results(&be, &s, &ids);
        let want: Vec<(f32, u32)> = s_cpu.into_iter().zip(i_cpu).collect();
        same_results(&format!("beam_step {metric:?}"), &got, &want, 5, 1e-4);

        // leaf scan over two buffers, the second scanned in two dispatches
        // (merging), m = 7; every fifth slot holds a copy of another slot's
        // k-mer (spill: same index, same data), which must be reported once.
        // Query 0 has no leaves, query 1 only leaves past the first buffer
        // (empty results, then results, without a merge in the first)
        for s in (0..n).step_by(5) {
            perm[s] = perm[(s * 7 + 3) % n];
        }
        let by_grid = points(&mut rng, n, dim, metric);
        let data: Vec<f32> = perm
            .iter()
            .flat_map(|&j| by_grid[j as usize * dim..(j as usize + 1) * dim].to_vec())
            .collect();
        let mut op = offsets.clone();
        op.extend_from_slice(&perm);
        let split = 1000;
        let late: Vec<u32> = (0..leaves as u32)
            .filter(|&l| {
                offsets[l as usize] as usize >= split
                    && offsets[l as usize + 1] > offsets[l as usize]
            })
            .collect();
        let chosen: Vec<u32> = (0..nq * 6)
            .map(|i| {
                if i < 6 || i % 6 == 5 {
                    NONE
                } else if i < 12 {
                    late[i % late.len()]
                } else {
                    rng.below(leaves as u64) as u32
                }
            })
            .collect();
        let m = 7;
        let mut s_cpu = vec![f32::NAN; nq * m];
        let mut i_cpu = vec![0u32; nq * m];
        let (mut s, mut ids) = poisoned(&be, nq * m);
        let qpad = ix::pad_queries(&q, dim);
        let qt = be.upload(&qpad).unwrap();
        let lt = be.upload_words(&chosen).unwrap();
        let opt = be.upload_words(&op).unwrap();
        let buffers = [(0, split), (split, n)];
        let bt: Vec<_> = buffers
            .iter()
            .map(|&(a, z)| ix::to_blocked(&data[a * dim..z * dim], dim))
            .collect();
        let gt: Vec<_> = bt.iter().map(|v| be.upload(v).unwrap()).collect();
        for (first, buf, s0, s1) in [
            (true, 0, 0, split),
            (false, 1, split, 1900),
            (false, 1, 1900, n),
        ] {
            let blocked = &bt[buf];
            let d = LeafDims {
                queries: nq,
                dim,
                width: 6,
                m,
                leaves,
                base: buffers[buf].0,
                slot0: s0,
                slot1: s1,
                first,
            };
            let inp = LeafInputs {
                queries: &qpad[..],
                data: &blocked[..],
                leaves: &chosen[..],
                offsets_perm: &op[..],
            };
            ix::leaf_scan_cpu(&d, inp, metric, ranked(&mut s_cpu, &mut i_cpu)).unwrap();
            let inp = LeafInputs {
                queries: &qt,
                data: &gt[buf],
                leaves: &lt,
                offsets_perm: &opt,
            };
            be.leaf_scan(&d, inp, metric, ranked_be(&mut s, &mut ids))
                .unwrap();
        }
        let got = read_results(&be, &s, &ids);
        let want: Vec<(f32, u32)> = s_cpu.into_iter().zip(i_cpu).collect();
        same_results(&format!("leaf_scan {metric:?}"), &got, &want, m, 1e-4);
        assert!(
            got[..m].iter().all(|x| x.1 == NONE && x.0 == EMPTY),
            "no leaves: {:?}",
            &got[..m]
        );
        assert!(got[m].1 != NONE, "late leaves: {:?}", &got[m..2 * m]);
        for row in got.chunks(m) {
            let mut ids: Vec<u32> = row.iter().map(|x| x.1).filter(|&j| j != NONE).collect();
            let k = ids.len();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), k, "a k-mer reported twice: {row:?}");
        }
        // and the twin itself: the best of each row is the best of the chosen leaves' points
        for (r, row) in want.chunks(m).enumerate() {
            let mut best = (f32::MIN, NONE);
            for &leaf in &chosen[r * 6..r * 6 + 6] {
                if leaf == NONE {
                    continue;
                }
                for slot in offsets[leaf as usize]..offsets[leaf as usize + 1] {
                    let j = perm[slot as usize];
                    let sc = ix::score(
                        &q[r * dim..(r + 1) * dim],
                        &data[slot as usize * dim..(slot as usize + 1) * dim],
                        metric,
                    );
                    if ix::beats((sc, j), best) {
                        best = (sc, j);
                    }
                }
            }
            assert_eq!(row[0].1, best.1, "leaf scan row {r}");
        }
    }
}

#[test]
fn window_and_list_scans_match_their_twins_and_leaf_scan() {
    use crest::ops::list_scan::{self as ls, ListDims, ListPlan};
    use crest::ops::window_scan::{self as ws, WindowDims, WindowPlan};
    let Some(g) = gpu() else { return };
    let be = gbe(&g);
    let mut rng = Rng::new(13);
    // awkward dimensions: 19 (windows of 256 rows), 128 (128 rows, whole
    // 64 KiB windows), 200 (64 rows)
    for (metric, dim) in [
        (Metric::Cosine, 19usize),
        (Metric::Poincare(0.37), 19),
        (Metric::Cosine, 128),
        (Metric::Poincare(1.0), 200),
    ] {
        let (leaves, n, nq, width, m) = (64usize, 3001usize, 853usize, 6usize, 7usize);
        let (mut offsets, mut perm) = random_slots(&mut rng, leaves, n);
        // leaves 5 and 20 are empty
        for l in [5usize, 20] {
            offsets[l + 1] = offsets[l];
        }
        // every fifth slot a spilled copy of another
        for s in (0..n).step_by(5) {
            perm[s] = perm[(s * 7 + 3) % n];
        }
        let by_grid = points(&mut rng, n, dim, metric);
        let data: Vec<f32> = perm
            .iter()
            .flat_map(|&j| by_grid[j as usize * dim..(j as usize + 1) * dim].to_vec())
            .collect();
        let q = points(&mut rng, nq, dim, metric);
        // query 0 chooses nothing; distinct leaves otherwise, some slots empty
        let mut chosen: Vec<u32> = (0..nq * width)
            .map(|i| {
                if i < width || i % width == width - 1 {
                    NONE
                } else {
                    ((i / width) * 13 + (i % width) * 11) as u32 % leaves as u32
                }
            })
            .collect();
        // every seventh query names a leaf twice, some name an empty leaf
        for qi in (1..nq).step_by(7) {
            chosen[qi * width + 1] = chosen[qi * width];
        }
        for qi in (2..nq).step_by(11) {
            chosen[qi * width + 2] = 5;
        }
        let rows = ws::window_rows(dim);
        let plan = WindowPlan::new(&chosen, width, nq, &offsets, (0, n), rows).unwrap();
        assert!(
            plan.dispatches.len() > 3,
            "{} windows",
            plan.dispatches.len()
        );
        assert!(
            plan.dispatches.iter().any(|d| d.entries > 64),
            "a window with several workgroups"
        );
        let dims = WindowDims {
            queries: nq,
            dim,
            m,
            rows: ws::RowCode::F32,
        };
        let qpad = ix::pad_queries(&q, dim);
        let wdata = ws::to_windows(&data, dim);
        let wids = ws::ids_windows(&perm);
        // earlier results for every third query (the kernel merges into
        // them), nothing for the rest
        let mut s0 = vec![ix::EMPTY; nq * m];
        let mut i0 = vec![NONE; nq * m];
        for qi in (0..nq).step_by(3) {
            for r in 0..3 {
                s0[qi * m + r] = 0.9 - 0.2 * r as f32;
                i0[qi * m + r] = 50_000 + (qi * 3 + r) as u32;
            }
        }
        let (mut s_cpu, mut i_cpu) = (s0.clone(), i0.clone());
        let host = ScanInputs {
            queries: &qpad[..],
            data: ws::ScanRows::F32(&wdata),
            ids: &wids[..],
        };
        ws::window_scan_cpu(&dims, &plan, host, metric, ranked(&mut s_cpu, &mut i_cpu)).unwrap();
        let mut s = be.upload(&s0).unwrap();
        let mut ids = be.upload_words(&i0).unwrap();
        let (gq, gdata, gids) = (
            be.upload(&qpad).unwrap(),
            crest::backend::ScanData::F32(be.upload(&wdata).unwrap()),
            be.upload_words(&wids).unwrap(),
        );
        let dev = ScanInputs {
            queries: &gq,
            data: &gdata,
            ids: &gids,
        };
        be.window_scan(&dims, &plan, dev, metric, ranked_be(&mut s, &mut ids))
            .unwrap();
        let got = read_results(&be, &s, &ids);
        let want: Vec<(f32, u32)> = s_cpu.iter().copied().zip(i_cpu.iter().copied()).collect();
        let what = format!("window_scan {metric:?} dim {dim}");
        same_results(&what, &got, &want, m, 1e-4);
        // query 0 chose nothing: its earlier results stand
        assert_eq!(
            &got[..m],
            &s0[..m]
                .iter()
                .copied()
                .zip(i0[..m].iter().copied())
                .collect::<Vec<_>>()[..],
            "{what}"
        );
        for row in got.chunks(m) {
            let mut seen: Vec<u32> = row.iter().map(|x| x.1).filter(|&j| j != NONE).collect();
            let k = seen.len();
            seen.sort();
            seen.dedup();
            assert_eq!(seen.len(), k, "{what}: a k-mer reported twice: {row:?}");
        }
        // from nothing, the twin finds what leaf_scan's twin finds over the
        // same leaves
        let (mut s_w, mut i_w) = (vec![ix::EMPTY; nq * m], vec![NONE; nq * m]);
        ws::window_scan_cpu(&dims, &plan, host, metric, ranked(&mut s_w, &mut i_w)).unwrap();
        let (mut s_l, mut i_l) = (vec![0.0; nq * m], vec![0; nq * m]);
        let mut op = offsets.clone();
        op.extend_from_slice(&perm);
        let ld = LeafDims {
            queries: nq,
            dim,
            width,
            m,
            leaves,
            base: 0,
            slot0: 0,
            slot1: n,
            first: true,
        };
        let blocked = ix::to_blocked(&data, dim);
        let inp = LeafInputs {
            queries: &qpad[..],
            data: &blocked[..],
            leaves: &chosen[..],
            offsets_perm: &op[..],
        };
        ix::leaf_scan_cpu(&ld, inp, metric, ranked(&mut s_l, &mut i_l)).unwrap();
        assert_eq!(i_w, i_l, "{what}: window twin = leaf twin");
        assert_eq!(s_w, s_l, "{what}: window twin = leaf twin");
        // the list scan (GPUs' layout), leaves cut into pieces of 32 rows:
        // from nothing its twin finds what the window twin finds; from the
        // earlier results too; and the kernel finds what its twin finds
        let lplan = ListPlan::new(&chosen, width, nq, &offsets, (0, n), 32).unwrap();
        // at least one pass per piece of a query's leaves; the greedy
        // plan takes a few times that (24 for ~10 pieces a query here)
        let most_pieces = (0..nq)
            .map(|qi| {
                let mut mine: Vec<u32> = chosen[qi * width..(qi + 1) * width]
                    .iter()
                    .copied()
                    .filter(|&l| l != NONE)
                    .collect();
                mine.sort_unstable();
                mine.dedup();
                mine.into_iter()
                    .map(|l| {
                        let l = l as usize;
                        ((offsets[l + 1] - offsets[l]) as usize).div_ceil(32)
                    })
                    .sum::<usize>()
            })
            .max()
            .unwrap();
        assert!(
            lplan.passes.len() >= most_pieces && lplan.passes.len() <= 3 * most_pieces,
            "{} passes for at most {most_pieces} pieces a query",
            lplan.passes.len()
        );
        assert!(lplan.items.chunks(4).any(|it| it[3] > 1), "shared pieces");
        let ldims = ListDims {
            queries: nq,
            dim,
            m,
            rows: ws::RowCode::F32,
        };
        let list_twin = |s: &mut Vec<f32>, i: &mut Vec<u32>| {
            ls::list_scan_cpu(&ldims, &lplan, host, metric, ranked(s, i)).unwrap()
        };
        let (mut s_lt, mut i_lt) = (vec![ix::EMPTY; nq * m], vec![NONE; nq * m]);
        list_twin(&mut s_lt, &mut i_lt);
        assert_eq!(i_lt, i_w, "{what}: list twin = window twin");
        assert_eq!(s_lt, s_w, "{what}: list twin = window twin");
        let (mut s_lm, mut i_lm) = (s0.clone(), i0.clone());
        list_twin(&mut s_lm, &mut i_lm);
        assert_eq!(i_lm, i_cpu, "{what}: list twin = window twin, merged");
        let mut s = be.upload(&s0).unwrap();
        let mut ids = be.upload_words(&i0).unwrap();
        be.list_scan(&ldims, &lplan, dev, metric, ranked_be(&mut s, &mut ids))
            .unwrap();
        let got = read_results(&be, &s, &ids);
        let want: Vec<(f32, u32)> = s_lm.iter().copied().zip(i_lm.iter().copied()).collect();
        same_results(
            &format!("list_scan {metric:?} dim {dim}"),
            &got,
            &want,
            m,
            1e-4,
        );
    }
}

fn build_tree(be: &Backend, z: &[f32], dim: usize, metric: Metric, shape: TreeShape) -> tree::Tree {
    tree::build(
        be,
        z,
        dim,
        metric,
        &BuildConfig {
            shape,
            iters: 4,
            seed: 3,
        },
        &mut |_, _| {},
    )
    .unwrap()
}

#[test]
fn tree_is_balanced_and_full_beam_is_exact() {
    let Some(g) = gpu() else { return };
    let be = gbe(&g);
    let mut rng = Rng::new(13);
    for metric in METRICS {
        let (n, dim) = (603usize, 24usize);
        let z = clustered(&mut rng, n, dim, metric);
        let shape = TreeShape {
            branch: 4,
            depth: 3,
        };
        let t = build_tree(&be, &z, dim, metric, shape);
        t.validate(n, dim).unwrap();
        // balanced: leaf sizes differ by at most one level's rounding
        let sizes: Vec<u32> = t.leaf_offsets.windows(2).map(|w| w[1] - w[0]).collect();
        let (lo, hi) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(hi - lo <= 3, "leaf sizes {lo}..{hi}");
        // path codes are the leaves
        let codes = t.codes();
        for leaf in 0..shape.leaves() {
            for s in t.leaf_offsets[leaf]..t.leaf_offsets[leaf + 1] {
                assert_eq!(codes[t.perm[s as usize] as usize], leaf as u32);
            }
        }
        // a beam as wide as the tree scans every leaf: exact search
        let q = clustered(&mut rng, 45, dim, metric);
        let m = 9;
        let dt = DeviceTree::new(&be, &t, &z, dim, metric).unwrap();
        let qt = be.upload(&q).unwrap();
        let wide = dt
            .search(
                &be,
                &qt,
                45,
                m,
                &BeamConfig {
                    width: shape.leaves(),
                },
            )
            .unwrap();
        let flat = FlatIndex::new(&be, &z, dim, metric)
            .unwrap()
            .search(&be, &qt, 45, m)
            .unwrap();
        same_results(
            &format!("full beam vs flat {metric:?}"),
            &wide,
            &flat,
            m,
            2e-4,
        );
        // narrower beams find the exact best less often, never more; and every
        // score they return is the true score of that grid point
        let agree = |w: usize| {
            let r = dt
                .search(&be, &qt, 45, m, &BeamConfig { width: w })
                .unwrap();
            for (qi, row) in r.chunks(m).enumerate() {
                for &(sc, j) in row.iter().filter(|x| x.1 != NONE) {
                    let want = ix::score(
                        &q[qi * dim..(qi + 1) * dim],
                        &z[j as usize * dim..(j as usize + 1) * dim],
                        metric,
                    );
                    assert!(
                        (sc - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "score of {j}"
                    );
                }
            }
            r.chunks(m)
                .zip(flat.chunks(m))
                .filter(|(a, b)| a[0].1 == b[0].1)
                .count()
        };
        let (a1, a4, a16) = (agree(1), agree(4), agree(16));
        assert!(
            a1 <= a4 + 2 && a4 <= a16 + 2 && a16 >= 30,
            "beam 1/4/16 found the exact best for {a1}/{a4}/{a16} of 45"
        );
    }
}

#[test]
fn tree_build_and_search_gpu_match_cpu_twin() {
    let Some(g) = gpu() else { return };
    let gpu_be = gbe(&g);
    let cpu = Backend::CpuReference;
    let mut rng = Rng::new(14);
    for metric in [Metric::Cosine, Metric::Poincare(0.8)] {
        let (n, dim) = (389usize, 16usize);
        let z = clustered(&mut rng, n, dim, metric);
        let shape = TreeShape {
            branch: 4,
            depth: 2,
        };
        let tg = build_tree(&gpu_be, &z, dim, metric, shape);
        let tc = build_tree(&cpu, &z, dim, metric, shape);
        // same leaves for (almost) every point: k-means on the device = twin
        let (cg, cc) = (tg.codes(), tc.codes());
        let same = cg.iter().zip(&cc).filter(|(a, b)| a == b).count();
        assert!(same * 100 >= n * 98, "{same}/{n} points in the same leaf");
        for (a, b) in tg.centroids.iter().zip(&tc.centroids) {
            if same == n {
                assert_close("centroids", a, b, 1e-3, 1e-4);
            }
        }
        // beam search on the device = twin, on the same tree
        let q = clustered(&mut rng, 29, dim, metric);
        let m = 5;
        let cfg = BeamConfig { width: 3 };
        let got = DeviceTree::new(&gpu_be, &tc, &z, dim, metric)
            .unwrap()
            .search(&gpu_be, &gpu_be.upload(&q).unwrap(), 29, m, &cfg)
            .unwrap();
        let want = DeviceTree::new(&cpu, &tc, &z, dim, metric)
            .unwrap()
            .search(&cpu, &cpu.upload(&q).unwrap(), 29, m, &cfg)
            .unwrap();
        same_results(&format!("beam search {metric:?}"), &got, &want, m, 1e-4);
    }
}

#[test]
fn chunked_tree_search_equals_unchunked_in_both_layouts() {
    let Some(g) = gpu() else { return };
    let be = gbe(&g);
    let mut rng = Rng::new(15);
    let (n, dim) = (700usize, 8usize);
    let metric = Metric::Cosine;
    let z = clustered(&mut rng, n, dim, metric);
    let t = build_tree(
        &be,
        &z,
        dim,
        metric,
        TreeShape {
            branch: 8,
            depth: 2,
        },
    );
    let q = clustered(&mut rng, 21, dim, metric);
    let qt = be.upload(&q).unwrap();
    let cfg = BeamConfig { width: 8 };
    let search = |layout| {
        DeviceTree::with_layout(&be, &t, &z, dim, metric, layout)
            .unwrap()
            .search(&be, &qt, 21, 6, &cfg)
            .unwrap()
    };
    let whole = search(ScanLayout::Blocked);
    // 64 rows of 8 floats per binding: 11 chunks, merged on the device
    let split = g.with_binding_cap(64 * 8 * 4, || search(ScanLayout::Blocked));
    assert_eq!(whole, split);
    // the windowed beam keeps the same non-empty leaves as beam_step
    let beam_of = |layout| {
        let dt = DeviceTree::with_layout(&be, &t, &z, dim, metric, layout).unwrap();
        let (leaves, w) = dt.beam(&be, &qt, 21, &cfg).unwrap();
        let leaves = be.read_words(&leaves).unwrap();
        let filled =
            |l: &u32| *l != NONE && t.leaf_offsets[*l as usize + 1] > t.leaf_offsets[*l as usize];
        leaves
            .chunks(w)
            .map(|r| r.iter().copied().filter(filled).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    };
    assert_eq!(beam_of(ScanLayout::Windows), beam_of(ScanLayout::Blocked));
    // the windowed scan (CPU adapters' layout) and the list scan (GPUs'),
    // whole and chunked, find the same
    let windows = search(ScanLayout::Windows);
    same_results("windows vs blocked", &windows, &whole, 6, 1e-5);
    let lists = search(ScanLayout::Lists);
    same_results("lists vs blocked", &lists, &whole, 6, 1e-5);
    let lists_split = g.with_binding_cap(64 * 8 * 4, || search(ScanLayout::Lists));
    assert_eq!(lists, lists_split, "chunked list scan");
    assert_eq!(
        DeviceTree::new(&be, &t, &z, dim, metric).unwrap().layout(),
        ScanLayout::Lists
    );
    // up to max_m, a deeper search's first m results are the search at m
    // (the mapper searches once at the deepest and cuts): exactly, in
    // every layout
    for layout in [ScanLayout::Blocked, ScanLayout::Windows, ScanLayout::Lists] {
        let dt = DeviceTree::with_layout(&be, &t, &z, dim, metric, layout).unwrap();
        let deep = dt.max_m();
        let all = dt.search(&be, &qt, 21, deep, &cfg).unwrap();
        for m in [1, 6, deep / 2] {
            let few = dt.search(&be, &qt, 21, m, &cfg).unwrap();
            for (qi, (a, b)) in few.chunks(m).zip(all.chunks(deep)).enumerate() {
                assert_eq!(a, &b[..m], "{layout:?} m {m} q{qi}");
            }
        }
    }
    // more results than the windowed scan's lists hold: the leaves are split
    // over copies of each query; the first 64 are the unsplit search's, the
    // rest follow in order, each grid k-mer once
    let wide = BeamConfig { width: 16 };
    let dt = DeviceTree::with_layout(&be, &t, &z, dim, metric, ScanLayout::Windows).unwrap();
    assert_eq!(dt.max_m_split(), 4 * dt.max_m());
    let m64 = dt.search(&be, &qt, 21, 64, &wide).unwrap();
    let m200 = dt.search(&be, &qt, 21, 200, &wide).unwrap();
    for (qi, (a, b)) in m64.chunks(64).zip(m200.chunks(200)).enumerate() {
        same_results(&format!("split q{qi}"), &b[..64], a, 64, 1e-5);
        let ids: Vec<u32> = b.iter().map(|r| r.1).filter(|&i| i != NONE).collect();
        let mut uniq = ids.clone();
        uniq.sort_unstable();
        uniq.dedup();
        assert_eq!(uniq.len(), ids.len(), "q{qi}: a grid k-mer twice");
        assert!(
            ids.len() > 64,
            "q{qi}: only {} results past the split",
            ids.len()
        );
        assert!(b.windows(2).all(|p| p[0].0 >= p[1].0), "q{qi}: not sorted");
        // every result is its row's true score (cosine of unit vectors)
        for &(s, i) in b.iter().filter(|r| r.1 != NONE) {
            let row = &z[i as usize * dim..(i as usize + 1) * dim];
            let qv = &q[qi * dim..(qi + 1) * dim];
            let dot: f32 = row.iter().zip(qv).map(|(x, y)| x * y).sum();
            assert!((s - dot).abs() < 1e-4, "q{qi}: score {s} vs {dot}");
        }
    }
    assert!(dt.search(&be, &qt, 21, 4 * 64 + 1, &wide).is_err());
    // the list layout splits alike and finds the same
    let dl = DeviceTree::with_layout(&be, &t, &z, dim, metric, ScanLayout::Lists).unwrap();
    assert_eq!(dl.max_m_split(), dt.max_m_split());
    same_results(
        "lists split",
        &dl.search(&be, &qt, 21, 200, &wide).unwrap(),
        &m200,
        200,
        1e-5,
    );
    // and so does the twin in either layout
    let cpu = Backend::CpuReference;
    for layout in [ScanLayout::Blocked, ScanLayout::Windows, ScanLayout::Lists] {
        let got = DeviceTree::with_layout(&cpu, &t, &z, dim, metric, layout)
            .unwrap()
            .search(&cpu, &cpu.upload(&q).unwrap(), 21, 6, &cfg)
            .unwrap();
        same_results(&format!("twin {layout:?}"), &got, &whole, 6, 1e-5);
    }
}

#[test]
fn spilled_tree_is_valid_finds_at_least_as_much_and_stays_exact() {
    let Some(g) = gpu() else { return };
    let be = gbe(&g);
    let cpu = Backend::CpuReference;
    let mut rng = Rng::new(17);
    for metric in METRICS {
        let (n, dim) = (901usize, 16usize);
        let z = clustered(&mut rng, n, dim, metric);
        let shape = TreeShape {
            branch: 4,
            depth: 3,
        };
        let plain = build_tree(&be, &z, dim, metric, shape);
        let mut t = plain.clone();
        tree::spill(&be, &mut t, &z, dim, metric, 1, &mut |_, _| {}).unwrap();
        t.validate(n, dim).unwrap();
        assert_eq!(t.codes(), plain.codes());
        let copies = t.perm.len() - n;
        assert!(copies > n / 20, "{copies} copies of {n}");
        // copies go to the nearest leaf by centroid (the width-4 search finds
        // it for most k-mers: 88% here, 4 of 16 level-2 nodes kept) and only
        // where that is not the own leaf
        let leaf_c = t.centroids.last().unwrap();
        let nearest = |j: usize| {
            (0..shape.leaves())
                .map(|l| {
                    let c = &leaf_c[l * dim..(l + 1) * dim];
                    (ix::score(&z[j * dim..(j + 1) * dim], c, metric), l as u32)
                })
                .fold((f32::MIN, NONE), |a, b| if ix::beats(b, a) { b } else { a })
                .1
        };
        let codes = t.codes();
        let mut exact = 0;
        for leaf in 0..shape.leaves() {
            let own = t.own_slots(leaf);
            for s in own.end..t.leaf_offsets[leaf + 1] as usize {
                let j = t.perm[s] as usize;
                assert_ne!(codes[j], leaf as u32);
                exact += usize::from(nearest(j) == leaf as u32);
            }
        }
        assert!(
            exact * 100 >= copies * 85,
            "{exact} of {copies} copies in the nearest leaf"
        );
        // the CPU twin spills the same copies (up to near-ties)
        let mut tc = plain.clone();
        tree::spill(&cpu, &mut tc, &z, dim, metric, 1, &mut |_, _| {}).unwrap();
        let same = t.perm.iter().zip(&tc.perm).filter(|(a, b)| a == b).count();
        assert!(
            same * 100 >= t.perm.len() * 98,
            "{same} of {} slots as the twin",
            t.perm.len()
        );
        // more copies than the cap: refused, tree untouched
        let mut over = t.clone();
        let e = tree::spill(
            &be,
            &mut over,
            &z,
            dim,
            metric,
            tree::MAX_SPILL + 1,
            &mut |_, _| {},
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("--spill") && over == t, "{e}");
        // spill 0 gives the plain tree back
        let mut back = t.clone();
        tree::spill(&be, &mut back, &z, dim, metric, 0, &mut |_, _| {}).unwrap();
        assert_eq!(back, plain);
        // same beam, more candidates: never a worse best; full beam = flat
        let nq = 57;
        let q = clustered(&mut rng, nq, dim, metric);
        let qt = be.upload(&q).unwrap();
        let m = 6;
        let search = |tree: &tree::Tree, w: usize| {
            DeviceTree::new(&be, tree, &z, dim, metric)
                .unwrap()
                .search(&be, &qt, nq, m, &BeamConfig { width: w })
                .unwrap()
        };
        let (a, b) = (search(&plain, 2), search(&t, 2));
        let mut better = 0;
        for (ra, rb) in a.chunks(m).zip(b.chunks(m)) {
            assert!(
                rb[0].0 >= ra[0].0,
                "spilled best {:?} < plain {:?}",
                rb[0],
                ra[0]
            );
            better += usize::from(rb[0].0 > ra[0].0);
            let mut ids: Vec<u32> = rb.iter().map(|x| x.1).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), m, "duplicates in {rb:?}");
        }
        assert!(better > 0, "spilling changed no query's best at beam 2");
        let flat = FlatIndex::new(&be, &z, dim, metric)
            .unwrap()
            .search(&be, &qt, nq, m)
            .unwrap();
        same_results(
            &format!("spilled full beam {metric:?}"),
            &search(&t, shape.leaves()),
            &flat,
            m,
            2e-4,
        );
    }
}

fn tiny_reference(rng: &mut Rng, len: usize) -> Reference {
    let bases = b"ACGT";
    let mut seq: Vec<u8> = (0..len).map(|_| bases[rng.below(4) as usize]).collect();
    // an exact 60-bp repeat, and its reverse complement
    let rep: Vec<u8> = seq[100..160].to_vec();
    seq[700..760].copy_from_slice(&rep);
    let rc = crest::seq::reverse_complement(&rep);
    seq[1200..1260].copy_from_slice(&rc);
    Reference {
        contigs: vec![Contig {
            name: "tiny".into(),
            md5: crest::io::md5_hex(&seq),
            seq,
        }],
    }
}

fn tiny_model(be: &Backend, seed: u64) -> (Checkpoint, Encoder) {
    let cfg = EncoderConfig {
        k: 16,
        channels: 4,
        kernel: 3,
        blocks: 1,
        embed_dim: 16,
        proj_dim: 8,
        ..Default::default()
    };
    let enc = Encoder::init(be, &cfg, seed).unwrap();
    let ck = Checkpoint {
        meta: crest::model::ModelMeta {
            format: crest::model::checkpoint::FORMAT.into(),
            encoder: cfg,
            train: serde_json::json!({}),
            seed,
            step: 0,
            reference: vec![],
            head: None,
            head_steps: 0,
            curvature: None,
        },
        tensors: crest::model::encoder::param_values(be, &enc.params).unwrap(),
    };
    (ck, enc)
}

#[test]
fn index_file_round_trip_repeats_and_refusals() {
    let Some(g) = gpu() else { return };
    let be = gbe(&g);
    let mut rng = Rng::new(16);
    let reference = tiny_reference(&mut rng, 1500);
    let (ck, enc) = tiny_model(&be, 5);
    let opts = IndexOptions {
        grid_stride: 4,
        branch: 4,
        leaf: 32,
        depth: None,
        iters: 3,
        seed: 9,
        spill: 1,
        pq: 0,
    };
    let index = Index::build(&be, &ck, &enc, &reference, &opts, &mut |_, _, _| {}).unwrap();
    assert_eq!(index.grid.len(), (1500 - 16) / 4 + 1);
    assert!(index.tree.perm.len() > index.grid.len(), "nothing spilled");
    // the repeat at 100..160 has copies at 700 (forward) and 1200 (reverse)
    let j = index.grid.loci.iter().position(|&(_, s)| s == 120).unwrap();
    let mates = index.mates.of(j);
    assert!(mates.contains(&720), "forward copy: {mates:?}");
    assert!(
        mates.contains(&(1200 + (160 - 120 - 16))),
        "reverse copy: {mates:?}"
    );
    assert!(index
        .mates
        .of(index.grid.loci.iter().position(|&(_, s)| s == 400).unwrap())
        .is_empty());
    // deterministic: the same inputs give the same index and file bytes
    let again = Index::build(&be, &ck, &enc, &reference, &opts, &mut |_, _, _| {}).unwrap();
    assert_eq!(index, again);
    let dir = tempfile::tempdir().unwrap();
    let (p1, p2) = (
        dir.path().join("a.crest-index"),
        dir.path().join("b.crest-index"),
    );
    index.save(&p1).unwrap();
    again.save(&p2).unwrap();
    assert_eq!(std::fs::read(&p1).unwrap(), std::fs::read(&p2).unwrap());
    let loaded = Index::load(&p1).unwrap();
    assert_eq!(loaded, index);
    let mp = std::path::Path::new("m.crest");
    let rp = std::path::Path::new("r.fa");
    loaded.check(&p1, &ck, mp, &reference, rp).unwrap();
    // another model
    let (ck2, _) = tiny_model(&be, 6);
    let e = loaded
        .check(&p1, &ck2, mp, &reference, rp)
        .unwrap_err()
        .to_string();
    assert!(e.contains("another model"), "{e}");
    // another reference
    let mut other = reference.clone();
    other.contigs[0].seq[5] = if other.contigs[0].seq[5] == b'A' {
        b'C'
    } else {
        b'A'
    };
    other.contigs[0].md5 = crest::io::md5_hex(&other.contigs[0].seq);
    let e = loaded
        .check(&p1, &ck, mp, &other, rp)
        .unwrap_err()
        .to_string();
    assert!(e.contains("another reference"), "{e}");
    // a truncated or foreign file is refused with its name
    let bytes = std::fs::read(&p1).unwrap();
    std::fs::write(&p2, &bytes[..bytes.len() / 2]).unwrap();
    let e = Index::load(&p2).unwrap_err().to_string();
    assert!(e.contains("b.crest-index"), "{e}");
    std::fs::write(&p2, b"not an index").unwrap();
    assert!(Index::load(&p2).is_err());
    // without spilled copies (files from before spilling): no tree.spilled tensor
    let plain = Index::build(
        &be,
        &ck,
        &enc,
        &reference,
        &IndexOptions { spill: 0, ..opts },
        &mut |_, _, _| {},
    )
    .unwrap();
    assert!(plain.tree.spilled.is_empty() && plain.tree.perm.len() == plain.grid.len());
    plain.save(&p2).unwrap();
    assert_eq!(Index::load(&p2).unwrap(), plain);
    assert_eq!(plain.tree.codes(), index.tree.codes());
    // quantized: codes instead of floats, same tree and loci, round trip,
    // the same bytes from the same inputs, and a smaller file
    let coded = Index::build(
        &be,
        &ck,
        &enc,
        &reference,
        &IndexOptions { pq: 2, ..opts },
        &mut |_, _, _| {},
    )
    .unwrap();
    assert!(coded.grid.z.is_empty());
    assert_eq!(coded.meta.pq.map(|p| p.m), Some(2));
    // the same partition; the leaves' centroids are rounded to their codes
    assert_eq!(
        (
            &coded.tree.leaf_offsets,
            &coded.tree.perm,
            &coded.tree.spilled
        ),
        (
            &index.tree.leaf_offsets,
            &index.tree.perm,
            &index.tree.spilled
        )
    );
    assert_eq!(coded.tree.centroids[0], index.tree.centroids[0]);
    assert_ne!(coded.tree.centroids.last(), index.tree.centroids.last());
    let mut plain_copy = coded.tree.clone();
    plain_copy.drop_copies();
    assert_eq!(plain_copy.perm.len(), coded.grid.len());
    plain_copy
        .validate(coded.grid.len(), coded.grid.dim)
        .unwrap();
    assert_eq!(plain_copy.codes(), coded.tree.codes());
    assert_eq!(coded.grid.loci, index.grid.loci);
    let p3 = dir.path().join("c.crest-index");
    coded.save(&p3).unwrap();
    assert_eq!(Index::load(&p3).unwrap(), coded);
    // opened by memory map: the codes are read from the mapping, not copied;
    // saving over the mapped file replaces it (rename), the mapping keeps
    // the bytes it had
    let mapped = Index::load(&p3).unwrap();
    assert!(mapped.pq.as_ref().unwrap().1.is_mapped());
    mapped.save(&p3).unwrap();
    assert_eq!(mapped, coded);
    assert_eq!(Index::load(&p3).unwrap(), coded);
    coded.save(&p2).unwrap();
    assert_eq!(std::fs::read(&p2).unwrap(), std::fs::read(&p3).unwrap());
    assert!(
        std::fs::metadata(&p3).unwrap().len() < std::fs::metadata(&p1).unwrap().len(),
        "codes are smaller than floats"
    );
    let sizes = coded.sizes().unwrap();
    assert!(sizes
        .iter()
        .any(|(p, b)| p == "embeddings" && *b == coded.grid.len() * 2));
    // a flipped code byte is caught by the content checksum
    let mut bytes = std::fs::read(&p3).unwrap();
    let at = bytes.len() - 1 - bytes.iter().rev().position(|&b| b != 0).unwrap();
    bytes[at] ^= 1;
    std::fs::write(&p2, &bytes).unwrap();
    assert!(Index::load(&p2).is_err());
    // flat search over codes is refused with a way out; tree search works
    use crest::index::{SearchKind, Searcher};
    let e = Searcher::new(&be, &coded, &[SearchKind::Flat], BeamConfig { width: 2 })
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("--pq 0"), "{e}");
    assert!(Searcher::new(&be, &coded, &[SearchKind::Tree], BeamConfig { width: 2 }).is_ok());
}

#[test]
fn sampled_lloyd_tree_is_valid_and_exact_at_full_beam() {
    // enough points that the Lloyd iterations run on a sample (> 256 per child)
    let Some(g) = gpu() else { return };
    let be = gbe(&g);
    let mut rng = Rng::new(17);
    let (n, dim) = (5000usize, 8usize);
    let metric = Metric::Cosine;
    let z = clustered(&mut rng, n, dim, metric);
    let shape = TreeShape {
        branch: 4,
        depth: 2,
    };
    let t = build_tree(&be, &z, dim, metric, shape);
    t.validate(n, dim).unwrap();
    let sizes: Vec<u32> = t.leaf_offsets.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(sizes.iter().all(|&s| s == 312 || s == 313), "{sizes:?}");
    let q = clustered(&mut rng, 33, dim, metric);
    let qt = be.upload(&q).unwrap();
    let wide = DeviceTree::new(&be, &t, &z, dim, metric)
        .unwrap()
        .search(&be, &qt, 33, 4, &BeamConfig { width: 16 })
        .unwrap();
    let flat = FlatIndex::new(&be, &z, dim, metric)
        .unwrap()
        .search(&be, &qt, 33, 4)
        .unwrap();
    same_results("sampled tree, full beam", &wide, &flat, 4, 2e-4);
}

#[test]
fn router_trains_round_trips_and_is_exact_at_full_width() {
    use crest::index::{SearchKind, Searcher};
    use crest::train::head::{train_router, RouteOptions};
    let Some(g) = gpu() else { return };
    let be = gbe(&g);
    // the bundled mammoth encoder on the first 4 kbp of its genome: a trained
    // encoder, so that leaves are something a head can learn
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let mut reference = Reference::load(&dir.join("mammoth_chrM.fa")).unwrap();
    reference.contigs[0].seq.truncate(4000);
    reference.contigs[0].md5 = crest::io::md5_hex(&reference.contigs[0].seq);
    let ck = Checkpoint::load(&dir.join("mammoth_chrM.crest")).unwrap();
    let enc = Encoder::from_values(&be, &ck.meta.encoder, ck.weights()).unwrap();
    let dim = enc.cfg.proj_dim;
    let opts = IndexOptions {
        grid_stride: 4,
        branch: 4,
        leaf: 64,
        depth: None,
        iters: 3,
        seed: 9,
        spill: 1,
        pq: 0,
    };
    let plain = Index::build(&be, &ck, &enc, &reference, &opts, &mut |_, _, _| {}).unwrap();
    assert_eq!(plain.tree.shape.bits(), 4);
    // without a router, route search is refused with a way out
    let e = Searcher::new(&be, &plain, &[SearchKind::Route], BeamConfig { width: 2 })
        .err()
        .expect("no router")
        .to_string();
    assert!(e.contains("--route-steps"), "{e}");
    let ro = RouteOptions {
        steps: 120,
        hidden: 64,
        batch: 64,
        seed: 3,
    };
    let train = || {
        let mut index = plain.clone();
        let mut bce = Vec::new();
        train_router(&be, &enc, &reference, &mut index, &ro, &mut |_, _, l| {
            bce.push(l)
        })
        .unwrap();
        (index, bce)
    };
    let (index, bce) = train();
    // it learns: the leaf bits become predictable from z
    assert!(bce.len() >= 2 && bce[0].is_finite());
    assert!(
        *bce.last().unwrap() < bce[0] - 0.05,
        "router BCE did not fall: {bce:?}"
    );
    let meta = index.meta.route.clone().expect("router metadata");
    assert_eq!((meta.head.bits, meta.head.input), (4, dim));
    // deterministic, and the file keeps it
    assert_eq!(train().0, index);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.crest-index");
    index.save(&p).unwrap();
    let loaded = Index::load(&p).unwrap();
    assert_eq!(loaded, index);
    // a router as wide as the tree scans every leaf: exact search
    let q = crest::index::reference_grid(&be, &enc, &reference, 7, &mut |_, _| {})
        .unwrap()
        .z;
    let nq = q.len() / dim;
    let mut s = Searcher::new(
        &be,
        &loaded,
        &[SearchKind::Flat, SearchKind::Route, SearchKind::TreeRoute],
        BeamConfig { width: 1 },
    )
    .unwrap();
    s.route_width = 16;
    let flat = s.search_host(&be, SearchKind::Flat, &q, dim, 5).unwrap();
    for kind in [SearchKind::Route, SearchKind::TreeRoute] {
        let r = s.search_host(&be, kind, &q, dim, 5).unwrap();
        same_results(&format!("{kind:?} at full width"), &r, &flat, 5, 2e-4);
    }
    // narrower: the union never does worse than the beam alone on flat's best
    s.route_width = 2;
    let tree = s.search_host(&be, SearchKind::Tree, &q, dim, 1).unwrap();
    let union = s
        .search_host(&be, SearchKind::TreeRoute, &q, dim, 1)
        .unwrap();
    let routed = s.search_host(&be, SearchKind::Route, &q, dim, 1).unwrap();
    let hits = |r: &[(f32, u32)]| {
        r.iter()
            .zip(flat.chunks(5))
            .filter(|(a, f)| a.1 == f[0].1)
            .count()
    };
    assert!(
        hits(&union) >= hits(&routed),
        "union below the router alone"
    );
    assert!(hits(&union) >= hits(&tree), "union below the beam alone");
    assert!(
        hits(&routed) > nq / 16,
        "router at width 2 of 16 leaves: {} of {nq}",
        hits(&routed)
    );
}
