//! Product quantization: the assignment kernel against its CPU twin on
//! awkward sizes with poisoned outputs, the windowed scan over code rows
//! against its twin and against a float scan of the decoded rows (both
//! metrics), training that lowers the quantization error, and a tree search
//! over codes that finds what a search over the decoded floats finds.

mod common;

use std::sync::Arc;

use common::gpu;
use crest::backend::{Backend, ScanData};
use crest::index::pq::Pq;
use crest::index::tree::{self, RowSource};
use crest::index::{BeamConfig, BuildConfig, DeviceTree, ScanLayout, TreeShape};
use crest::ops::index::{self as ix, Metric, Ranked, EMPTY, NONE};
use crest::ops::list_scan::{self as ls, ListDims, ListPlan};
use crest::ops::pq::{assign_cpu, PqDims, K};
use crest::ops::window_scan::{self as ws, RowCode, ScanInputs, WindowDims, WindowPlan};
use crest::rng::Rng;

/// A search's outputs on the host.
fn ranked<'a>(scores: &'a mut [f32], ids: &'a mut [u32]) -> Ranked<&'a mut [f32], &'a mut [u32]> {
    Ranked { scores, ids }
}

fn gbe(g: &Arc<crest::gpu::Gpu>) -> Backend {
    Backend::Gpu(g.clone())
}

/// Points in a few clusters, on the unit sphere (cosine) or inside the ball.
fn clustered(rng: &mut Rng, n: usize, dim: usize, metric: Metric) -> Vec<f32> {
    let centres: Vec<f32> = (0..9 * dim).map(|_| rng.normal() as f32).collect();
    let mut v = Vec::with_capacity(n * dim);
    for i in 0..n {
        let c = &centres[(i % 9) * dim..(i % 9 + 1) * dim];
        let mut row: Vec<f32> = c.iter().map(|x| x + 0.4 * rng.normal() as f32).collect();
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        let target = match metric {
            Metric::Cosine => 1.0,
            Metric::Poincare(c) => rng.range_f32(0.2, 0.9) / c.sqrt(),
        };
        row.iter_mut().for_each(|x| *x *= target / norm);
        v.extend(row);
    }
    v
}

#[test]
fn pq_assign_matches_twin() {
    let Some(g) = gpu() else { return };
    let be = gbe(&g);
    let mut rng = Rng::new(71);
    // awkward point counts; subspaces of 1, 2 and 3 vec4s
    for (points, dim, m) in [
        (1usize, 8usize, 2usize),
        (203, 24, 2),
        (1037, 128, 16),
        (77, 96, 8),
    ] {
        let d = PqDims { points, dim, m };
        let x: Vec<f32> = (0..points * dim).map(|_| rng.normal() as f32).collect();
        let cb: Vec<f32> = (0..m * K * (dim / m))
            .map(|_| rng.normal() as f32)
            .collect();
        let (want_c, want_d) = assign_cpu(&d, &x, &cb).unwrap();
        let mut codes = be.upload_words(&vec![0xdead_beef; points * m]).unwrap();
        let mut dist = be.upload(&vec![f32::NAN; points * m]).unwrap();
        be.pq_assign(
            &d,
            &be.upload(&x).unwrap(),
            &be.upload(&cb).unwrap(),
            &mut codes,
            &mut dist,
        )
        .unwrap();
        let got_c = be.read_words(&codes).unwrap();
        let got_d = be.read(&dist).unwrap();
        for i in 0..points * m {
            assert!(
                (got_d[i] - want_d[i]).abs() <= 1e-4 * (1.0 + want_d[i]),
                "{d:?} entry {i}: distance {} vs {}",
                got_d[i],
                want_d[i]
            );
            if got_c[i] != want_c[i] {
                // a tie within rounding: the GPU's entry is as near
                let (p, s) = (i / m, i % m);
                let sub = dim / m;
                let dist_to = |c: u32| -> f32 {
                    let xs = &x[p * dim + s * sub..p * dim + (s + 1) * sub];
                    let e = &cb[(s * K + c as usize) * sub..(s * K + c as usize + 1) * sub];
                    xs.iter().zip(e).map(|(a, b)| (a - b) * (a - b)).sum()
                };
                assert!(
                    (dist_to(got_c[i]) - dist_to(want_c[i])).abs() <= 1e-4,
                    "{d:?} entry {i}: code {} vs {}",
                    got_c[i],
                    want_c[i]
                );
            }
        }
    }
    assert!(PqDims {
        points: 1,
        dim: 18,
        m: 2
    }
    .validate()
    .is_err());
    assert!(PqDims {
        points: 1,
        dim: 128,
        m: 3
    }
    .validate()
    .is_err());
}

#[test]
fn training_lowers_the_error_and_codes_round_trip() {
    let Some(g) = gpu() else { return };
    let be = gbe(&g);
    let mut rng = Rng::new(5);
    let (n, dim) = (3000usize, 32usize);
    let x = clustered(&mut rng, n, dim, Metric::Cosine);
    let err = |pq: &Pq| -> f64 {
        let codes = pq.encode(&be, &x).unwrap();
        let y = pq.decode(&codes);
        x.iter()
            .zip(&y)
            .map(|(a, b)| ((a - b) * (a - b)) as f64)
            .sum::<f64>()
            / n as f64
    };
    let pq = Pq::train(&be, &x, dim, 8, 3).unwrap();
    pq.validate().unwrap();
    assert_eq!(pq.codebook.len(), 8 * K * 4);
    // same seed, same codebook
    assert_eq!(Pq::train(&be, &x, dim, 8, 3).unwrap(), pq);
    let trained = err(&pq);
    // the initial codebook (sample points) does worse than the trained one
    let mut init = pq.clone();
    let mut order: Vec<usize> = (0..n).collect();
    let mut r2 = Rng::new(9);
    for i in (1..n).rev() {
        order.swap(i, r2.below(i as u64 + 1) as usize);
    }
    for s in 0..8 {
        for (c, &p) in order.iter().take(K).enumerate() {
            init.codebook[(s * K + c) * 4..(s * K + c + 1) * 4]
                .copy_from_slice(&x[p * dim + s * 4..p * dim + s * 4 + 4]);
        }
    }
    let before = err(&init);
    assert!(
        trained < 0.8 * before,
        "trained error {trained} vs sample codebook {before}"
    );
    // relative error well below the signal (unit vectors: 1 per point)
    assert!(trained < 0.2, "mean squared error {trained}");
    // a codebook of the wrong size is refused
    let mut bad = pq.clone();
    bad.codebook.pop();
    assert!(bad.validate().is_err());
}

#[test]
fn code_window_scan_matches_twin_and_decoded_floats() {
    let Some(g) = gpu() else { return };
    let be = gbe(&g);
    let mut rng = Rng::new(17);
    for (metric, dim, pm) in [
        (Metric::Cosine, 128usize, 16usize),
        (Metric::Poincare(0.37), 64, 4),
        (Metric::Poincare(1.0), 32, 8),
        (Metric::Cosine, 16, 1),
    ] {
        let (leaves, n, nq, width, m) = (40usize, 2711usize, 509usize, 5usize, 9usize);
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
        let x = clustered(&mut rng, n, dim, metric);
        let pq = Pq::train(&be, &x, dim, pm, 1).unwrap();
        let codes = pq.encode(&be, &x).unwrap();
        // codes and decoded floats in slot order
        let slot_codes: Vec<u8> = perm
            .iter()
            .flat_map(|&j| codes[j as usize * pm..(j as usize + 1) * pm].to_vec())
            .collect();
        let decoded = pq.decode(&slot_codes);
        let q = clustered(&mut rng, nq, dim, metric);
        let chosen: Vec<u32> = (0..nq * width)
            .map(|i| {
                if i % width == width - 1 {
                    NONE
                } else {
                    ((i / width) * 7 + (i % width) * 11) as u32 % leaves as u32
                }
            })
            .collect();
        let plan = WindowPlan::new(
            &chosen,
            width,
            nq,
            &offsets,
            (0, n),
            RowCode::Pq(pm).window_rows(dim),
        )
        .unwrap();
        let dims = WindowDims {
            queries: nq,
            dim,
            m,
            rows: RowCode::Pq(pm),
        };
        let qpad = ix::pad_queries(&q, dim);
        let wcodes = ws::codes_to_windows(&slot_codes, pm);
        let wids = ws::ids_windows(&perm);
        let (mut s_cpu, mut i_cpu) = (vec![EMPTY; nq * m], vec![NONE; nq * m]);
        let codes = ScanInputs {
            queries: &qpad[..],
            data: ws::ScanRows::Pq {
                codes: &wcodes,
                codebook: &pq.codebook,
            },
            ids: &wids[..],
        };
        ws::window_scan_cpu(&dims, &plan, codes, metric, ranked(&mut s_cpu, &mut i_cpu)).unwrap();
        let what = format!("code scan {metric:?} dim {dim} m {pm}");
        // the twin over codes = the float twin over the decoded rows
        let fplan =
            WindowPlan::new(&chosen, width, nq, &offsets, (0, n), ws::window_rows(dim)).unwrap();
        let fdims = WindowDims {
            rows: RowCode::F32,
            ..dims
        };
        let (mut s_f, mut i_f) = (vec![EMPTY; nq * m], vec![NONE; nq * m]);
        let rows = ws::to_windows(&decoded, dim);
        let floats = ScanInputs {
            data: ws::ScanRows::F32(&rows),
            ..codes
        };
        ws::window_scan_cpu(&fdims, &fplan, floats, metric, ranked(&mut s_f, &mut i_f)).unwrap();
        assert_eq!(i_cpu, i_f, "{what}: ids of the code and float twins");
        assert_eq!(s_cpu, s_f, "{what}: scores of the code and float twins");
        // the list scan of the same codes: its twin = the window twin, and
        // its kernel = its twin
        let lplan = ListPlan::new(
            &chosen,
            width,
            nq,
            &offsets,
            (0, n),
            ls::piece_rows(dim, RowCode::Pq(pm), m),
        )
        .unwrap();
        let ldims = ListDims {
            queries: nq,
            dim,
            m,
            rows: RowCode::Pq(pm),
        };
        let (mut s_l, mut i_l) = (vec![EMPTY; nq * m], vec![NONE; nq * m]);
        ls::list_scan_cpu(&ldims, &lplan, codes, metric, ranked(&mut s_l, &mut i_l)).unwrap();
        assert_eq!(i_l, i_cpu, "{what}: list twin = window twin");
        assert_eq!(s_l, s_cpu, "{what}: list twin = window twin");
        let mut s = be.upload(&vec![EMPTY; nq * m]).unwrap();
        let mut ids = be.upload_words(&vec![NONE; nq * m]).unwrap();
        let (gq, gids) = (be.upload(&qpad).unwrap(), be.upload_words(&wids).unwrap());
        let data = ScanData::Pq {
            codes: be.upload_words(&wcodes).unwrap(),
            codebook: be.upload(&pq.codebook).unwrap(),
        };
        let inp = ScanInputs {
            queries: &gq,
            data: &data,
            ids: &gids,
        };
        let out = Ranked {
            scores: &mut s,
            ids: &mut ids,
        };
        be.list_scan(&ldims, &lplan, inp, metric, out).unwrap();
        let (ls_s, ls_i) = (be.read(&s).unwrap(), be.read_words(&ids).unwrap());
        let agree = (0..nq * m)
            .filter(|&i| {
                ls_i[i] == i_l[i] && (ls_s[i] - s_l[i]).abs() <= 1e-4 * (1.0 + s_l[i].abs())
            })
            .count();
        assert!(
            agree as f64 >= 0.998 * (nq * m) as f64,
            "{what}: list kernel agrees with its twin on {agree} of {}",
            nq * m
        );
        assert!(
            i_cpu.iter().filter(|&&i| i != NONE).count() > nq * m / 2,
            "{what}: results"
        );
        // the kernel, from poisoned outputs... the scan merges into what
        // the outputs hold, so start from empty lists
        let mut s = be.upload(&vec![EMPTY; nq * m]).unwrap();
        let mut ids = be.upload_words(&vec![NONE; nq * m]).unwrap();
        let data = ScanData::Pq {
            codes: be.upload_words(&wcodes).unwrap(),
            codebook: be.upload(&ws::pad_codebook(&pq.codebook)).unwrap(),
        };
        let inp = ScanInputs {
            queries: &gq,
            data: &data,
            ids: &gids,
        };
        let out = Ranked {
            scores: &mut s,
            ids: &mut ids,
        };
        be.window_scan(&dims, &plan, inp, metric, out).unwrap();
        let got_s = be.read(&s).unwrap();
        let got_i = be.read_words(&ids).unwrap();
        for i in 0..nq * m {
            let tol = 1e-4 * (1.0 + s_cpu[i].abs());
            assert!(
                (got_s[i] - s_cpu[i]).abs() <= tol || (got_i[i] == NONE && i_cpu[i] == NONE),
                "{what}: result {i}: score {} vs {}",
                got_s[i],
                s_cpu[i]
            );
            if got_i[i] != i_cpu[i] {
                let row = i / m;
                let tie = (0..m).any(|r| {
                    i_cpu[row * m + r] == got_i[i] && (s_cpu[row * m + r] - got_s[i]).abs() <= tol
                });
                assert!(tie, "{what}: result {i}: id {} vs {}", got_i[i], i_cpu[i]);
            }
        }
    }
}

#[test]
fn tree_search_over_codes_matches_search_over_decoded_floats() {
    let Some(g) = gpu() else { return };
    let be = gbe(&g);
    let mut rng = Rng::new(23);
    let (n, dim, pm) = (3001usize, 32usize, 8usize);
    for metric in [Metric::Cosine, Metric::Poincare(0.5)] {
        let x = clustered(&mut rng, n, dim, metric);
        let cfg = BuildConfig {
            shape: TreeShape {
                branch: 4,
                depth: 2,
            },
            iters: 3,
            seed: 2,
        };
        let mut t = tree::build(&be, &x, dim, metric, &cfg, &mut |_, _| {}).unwrap();
        tree::spill(&be, &mut t, &x, dim, metric, 1, &mut |_, _| {}).unwrap();
        let pq = Pq::train(&be, &x, dim, pm, 4).unwrap();
        let codes = pq.encode(&be, &x).unwrap();
        let decoded = pq.decode(&codes);
        let coded = DeviceTree::from_rows(
            &be,
            &t,
            RowSource::Pq {
                codes: &codes,
                m: pm,
                codebook: &pq.codebook,
            },
            dim,
            metric,
            ScanLayout::Blocked,
        )
        .unwrap();
        assert_eq!(
            coded.layout(),
            ScanLayout::Lists,
            "codes are scanned in lists where blocks are asked for"
        );
        let windowed = DeviceTree::from_rows(
            &be,
            &t,
            RowSource::Pq {
                codes: &codes,
                m: pm,
                codebook: &pq.codebook,
            },
            dim,
            metric,
            ScanLayout::Windows,
        )
        .unwrap();
        let float =
            DeviceTree::with_layout(&be, &t, &decoded, dim, metric, ScanLayout::Windows).unwrap();
        let q = clustered(&mut rng, 700, dim, metric);
        let qt = be.upload(&q).unwrap();
        for (w, m) in [(2usize, 16usize), (16, 100)] {
            let a = coded
                .search(&be, &qt, 700, m, &BeamConfig { width: w })
                .unwrap();
            let b = float
                .search(&be, &qt, 700, m, &BeamConfig { width: w })
                .unwrap();
            // the list and window scans of the same codes agree
            let c = windowed
                .search(&be, &qt, 700, m, &BeamConfig { width: w })
                .unwrap();
            let same_lw = a.iter().zip(&c).filter(|(x, y)| x.1 == y.1).count();
            assert!(
                same_lw as f64 >= 0.999 * a.len() as f64,
                "{metric:?} beam {w} m {m}: lists and windows agree on {same_lw} of {}",
                a.len()
            );
            let same = a.iter().zip(&b).filter(|(x, y)| x.1 == y.1).count();
            assert!(
                same as f64 >= 0.99 * a.len() as f64,
                "{metric:?} beam {w} m {m}: {same} of {} results agree",
                a.len()
            );
            assert!(a.iter().any(|r| r.1 != NONE));
        }
        // a codebook of the wrong size is refused
        assert!(DeviceTree::from_rows(
            &be,
            &t,
            RowSource::Pq {
                codes: &codes,
                m: pm,
                codebook: &pq.codebook[1..],
            },
            dim,
            metric,
            ScanLayout::Windows,
        )
        .is_err());
    }
}
