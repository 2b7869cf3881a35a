//! Classification by embedding search (`crest classify`): the k-mer profile,
//! triplet and segment-mean kernels against their twins, the triplet loss and the k-mer
//! MLP against finite differences, and the commands end to end on a small
//! hierarchical data set, with bad input.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_close, assert_grad, crest, fd, gpu, rand64};
use crest::backend::Backend;
use crest::classify::{EncoderSpec, MlpConfig, PooledConfig, SeqEncoder};
use crest::model::EncoderConfig;
use crest::ops::elementwise::{bias_add_cpu, relu_cpu, ChannelShape};
use crest::ops::gemm::{gemm_cpu, GemmDims};
use crest::ops::kmer::{kmer_profile_cpu, kmer_profile_gpu, pack, KmerDims};
use crest::ops::pool::{
    segment_mean_bwd_cpu, segment_mean_bwd_gpu, segment_mean_cpu, segment_mean_gpu, SegmentDims,
};
use crest::ops::reduce::{l2norm_bwd_cpu, row_op_cpu, RowOp, L2_EPS};
use crest::ops::triplet::{triplet_cpu, triplet_gpu, TripletDims};
use crest::rng::Rng;

fn random_seq(rng: &mut Rng, len: usize, n_rate: f64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            if rng.uniform() < n_rate {
                b"NRYK"[rng.below(4) as usize]
            } else {
                b"ACGT"[rng.below(4) as usize]
            }
        })
        .collect()
}

#[test]
fn kmer_profile_matches_twin_awkward_sizes() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(5);
    for k in [1, 3, 6] {
        for &n in &[1usize, 3, 17, 65] {
            let seqs: Vec<Vec<u8>> = (0..n)
                .map(|i| {
                    let len = match i % 4 {
                        0 => rng.below(8) as usize, // often shorter than k
                        1 => 255,
                        _ => 1 + rng.below(3000) as usize,
                    };
                    random_seq(&mut rng, len, 0.02)
                })
                .collect();
            let refs: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();
            let (codes, offsets) = pack(&refs);
            let d = KmerDims { k, seqs: n };
            let mut want = vec![0f32; n * d.bins()];
            kmer_profile_cpu(&d, &codes, &offsets, &mut want).unwrap();
            let codes = if codes.is_empty() { vec![4] } else { codes };
            let gc = g.upload("codes", &codes).unwrap();
            let go = g.upload("offsets", &offsets).unwrap();
            let out = g.poisoned("out", n * d.bins()).unwrap();
            kmer_profile_gpu(&g, &d, &gc, &go, &out).unwrap();
            let got: Vec<f32> = g.read(&out).unwrap();
            assert_close(&format!("kmer k={k} n={n}"), &got, &want, 1e-6, 1e-7);
            // rows with k-mers sum to 1
            for (i, row) in want.chunks(d.bins()).enumerate() {
                let s: f32 = row.iter().sum();
                let valid = crest::ops::kmer::valid_kmers(&seqs[i], k);
                assert!(
                    (valid == 0 && s == 0.0) || (s - 1.0).abs() < 1e-4,
                    "row {i}: sum {s}"
                );
            }
        }
    }
}

#[test]
fn triplet_kernel_matches_twin() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(6);
    for &(b, dim) in &[(1usize, 1usize), (3, 17), (65, 63), (130, 256)] {
        let e = rng.vec_f32(3 * b * dim, -1.0, 1.0);
        let d = TripletDims {
            triplets: b,
            dim,
            margin: 0.5,
        };
        let (mut gw, mut lw) = (vec![0f32; 3 * b * dim], vec![0f32; b]);
        triplet_cpu(&d, &e, &mut gw, &mut lw).unwrap();
        let ge = g.upload("e", &e).unwrap();
        let gg = g.poisoned("grad", 3 * b * dim).unwrap();
        let gl = g.poisoned("loss", b).unwrap();
        triplet_gpu(&g, &d, &ge, &gg, &gl).unwrap();
        assert_close(
            "triplet loss",
            &g.read::<f32>(&gl).unwrap(),
            &lw,
            1e-5,
            1e-6,
        );
        assert_close(
            "triplet grad",
            &g.read::<f32>(&gg).unwrap(),
            &gw,
            1e-4,
            1e-6,
        );
    }
}

#[test]
fn triplet_backward_matches_finite_differences() {
    let mut rng = Rng::new(7);
    let (b, dim) = (6, 5);
    // margin large enough that most triplets are active, small enough that some are not
    let d = TripletDims {
        triplets: b,
        dim,
        margin: 0.3,
    };
    let e = rand64(&mut rng, 3 * b * dim);
    let mut g = vec![0.0; 3 * b * dim];
    let mut l = vec![0.0; b];
    triplet_cpu(&d, &e, &mut g, &mut l).unwrap();
    assert!(l.iter().any(|&v| v > 0.0), "some triplet is active");
    let loss = |e: &[f64]| {
        let mut g = vec![0.0; e.len()];
        let mut l = vec![0.0; b];
        triplet_cpu(&d, e, &mut g, &mut l).unwrap()
    };
    assert_grad("triplet de", &g, &fd(&e, loss), 1e-6);
}

/// The MLP's loss in f64 from the twins: profile → fc1 → ReLU → fc2 → L2 → triplet.
fn mlp_loss(cfg: &MlpConfig, x: &[f64], rows: usize, w: &[Vec<f64>], margin: f32) -> f64 {
    let (f, h, p) = (cfg.features(), cfg.hidden, cfg.dim);
    let mut a0 = vec![0.0; rows * h];
    gemm_cpu(&GemmDims::new(rows, h, f, false, true), x, &w[0], &mut a0).unwrap();
    let s1 = ChannelShape {
        outer: rows,
        channels: h,
        inner: 1,
    };
    let mut a = vec![0.0; rows * h];
    bias_add_cpu(&s1, &a0, &w[1], &mut a).unwrap();
    let mut r = vec![0.0; rows * h];
    relu_cpu(&a, &mut r).unwrap();
    let mut y0 = vec![0.0; rows * p];
    gemm_cpu(&GemmDims::new(rows, p, h, false, true), &r, &w[2], &mut y0).unwrap();
    let s2 = ChannelShape {
        outer: rows,
        channels: p,
        inner: 1,
    };
    let mut y = vec![0.0; rows * p];
    bias_add_cpu(&s2, &y0, &w[3], &mut y).unwrap();
    let mut z = vec![0.0; rows * p];
    row_op_cpu(RowOp::L2Norm, &y, rows, p, L2_EPS, &mut z).unwrap();
    let d = TripletDims {
        triplets: rows / 3,
        dim: p,
        margin,
    };
    let (mut g, mut l) = (vec![0.0; rows * p], vec![0.0; rows / 3]);
    triplet_cpu(&d, &z, &mut g, &mut l).unwrap()
}

fn tiny_cfg() -> MlpConfig {
    MlpConfig {
        k: 2,
        hidden: 7,
        dim: 5,
    }
}

/// Analytic gradients of an encoder (model code on `be`) for a triplet
/// batch; the conv encoder samples its windows with a fixed seed.
fn encoder_grads(
    be: &Backend,
    spec: &EncoderSpec,
    seqs: &[&[u8]],
    margin: f32,
) -> (Vec<Vec<f32>>, Vec<f32>) {
    let mut enc = SeqEncoder::init(be, spec, 11).unwrap();
    let act = enc.forward(be, seqs, Some(&mut Rng::new(4))).unwrap();
    let rows = seqs.len();
    let dim = spec.out_dim();
    let d = TripletDims {
        triplets: rows / 3,
        dim,
        margin,
    };
    let mut g = be.zeros(rows * dim).unwrap();
    let mut l = be.zeros(rows / 3).unwrap();
    be.triplet(&d, &act.z, &mut g, &mut l).unwrap();
    enc.backward(be, &act, &g).unwrap();
    (
        enc.params()
            .iter()
            .map(|p| be.read(&p.grad).unwrap())
            .collect(),
        be.read(&act.z).unwrap(),
    )
}

#[test]
fn kmer_mlp_backward_matches_finite_differences() {
    let be = Backend::CpuReference;
    let cfg = tiny_cfg();
    let mut rng = Rng::new(8);
    let seqs: Vec<Vec<u8>> = (0..12).map(|_| random_seq(&mut rng, 40, 0.0)).collect();
    let refs: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();
    let margin = 1.5; // every triplet active: the loss is smooth at the weights
    let spec = EncoderSpec::Kmer6(cfg);
    let (grads, _) = encoder_grads(&be, &spec, &refs, margin);
    let enc = SeqEncoder::init(&be, &spec, 11).unwrap();
    let w: Vec<Vec<f64>> = enc
        .values(&be)
        .unwrap()
        .into_iter()
        .map(|(_, _, v)| v.into_iter().map(|x| x as f64).collect())
        .collect();
    let (codes, offsets) = pack(&refs);
    let mut x32 = vec![0f32; refs.len() * cfg.features()];
    kmer_profile_cpu(
        &KmerDims {
            k: cfg.k,
            seqs: refs.len(),
        },
        &codes,
        &offsets,
        &mut x32,
    )
    .unwrap();
    let x: Vec<f64> = x32.iter().map(|&v| v as f64).collect();
    for t in 0..4 {
        let want = fd(&w[t], |wt| {
            let mut ww = w.clone();
            ww[t] = wt.to_vec();
            mlp_loss(&cfg, &x, refs.len(), &ww, margin)
        });
        let got: Vec<f64> = grads[t].iter().map(|&v| v as f64).collect();
        // f32 model vs f64 differences
        assert_grad(&format!("k-mer MLP param {t}"), &got, &want, 2e-3);
        assert!(
            want.iter().any(|v| v.abs() > 1e-4),
            "param {t} has a gradient"
        );
    }
}

#[test]
fn kmer_mlp_on_device_matches_cpu_reference() {
    let Some(g) = gpu() else { return };
    let be = Backend::Gpu(g);
    let cfg = EncoderSpec::scorpio();
    let mut rng = Rng::new(9);
    let seqs: Vec<Vec<u8>> = (0..9)
        .map(|i| random_seq(&mut rng, 100 + 97 * i, 0.01))
        .collect();
    let refs: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();
    let (gg, zg) = encoder_grads(&be, &cfg, &refs, 0.5);
    let (gc, zc) = encoder_grads(&Backend::CpuReference, &cfg, &refs, 0.5);
    assert_close("embeddings", &zg, &zc, 1e-3, 1e-5);
    for (t, (a, b)) in gg.iter().zip(&gc).enumerate() {
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert_close(&format!("grad {t}"), a, b, 1e-2, 1e-3 * scale.max(1e-6));
    }
}

/// Segment sizes with empty segments, single rows and long runs.
fn awkward_segments(rng: &mut Rng, n: usize) -> Vec<usize> {
    (0..n)
        .map(|i| match i % 5 {
            0 => 0,
            1 => 1,
            _ => rng.below(70) as usize,
        })
        .collect()
}

#[test]
fn segment_mean_kernels_match_twins() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(12);
    for &(segs, dim) in &[(1usize, 1usize), (3, 63), (17, 65), (130, 128)] {
        let sizes = awkward_segments(&mut rng, segs);
        let off = SegmentDims::offsets(sizes.iter().copied());
        let d = SegmentDims {
            segments: segs,
            rows: *off.last().unwrap() as usize,
            dim,
        };
        let x = rng.vec_f32(d.rows * dim, -1.0, 1.0);
        let mut want = vec![0f32; segs * dim];
        segment_mean_cpu(&d, &off, &x, &mut want).unwrap();
        let gx = g.upload("x", &x).unwrap();
        let gy = g.poisoned("y", segs * dim).unwrap();
        segment_mean_gpu(&g, &d, &off, &gx, &gy).unwrap();
        let got: Vec<f32> = g.read(&gy).unwrap();
        assert_close(
            &format!("segment mean {segs}x{dim}"),
            &got,
            &want,
            1e-5,
            1e-6,
        );
        // backward: every row belongs to a segment, so every dx is written
        let dy = rng.vec_f32(segs * dim, -1.0, 1.0);
        let mut want = vec![0f32; d.rows * dim];
        segment_mean_bwd_cpu(&d, &off, &dy, &mut want).unwrap();
        let gdy = g.upload("dy", &dy).unwrap();
        let gdx = g.poisoned("dx", d.rows.max(1) * dim).unwrap();
        segment_mean_bwd_gpu(&g, &d, &off, &gdy, &gdx).unwrap();
        let got: Vec<f32> = g.read(&gdx).unwrap();
        assert_close(
            &format!("segment mean bwd {segs}x{dim}"),
            &got[..d.rows * dim],
            &want,
            1e-6,
            1e-7,
        );
    }
}

/// Pooling chain of the conv classifier on window embeddings `zw`:
/// segment mean → L2 normalise → triplet loss (f64 twins).
fn pooled_loss(d: &SegmentDims, off: &[u32], zw: &[f64], margin: f32) -> (f64, Vec<f64>) {
    let (s, p) = (d.segments, d.dim);
    let mut y = vec![0.0; s * p];
    segment_mean_cpu(d, off, zw, &mut y).unwrap();
    let mut z = vec![0.0; s * p];
    row_op_cpu(RowOp::L2Norm, &y, s, p, L2_EPS, &mut z).unwrap();
    let td = TripletDims {
        triplets: s / 3,
        dim: p,
        margin,
    };
    let (mut gz, mut l) = (vec![0.0; s * p], vec![0.0; s / 3]);
    let loss = triplet_cpu(&td, &z, &mut gz, &mut l).unwrap();
    // backward through the twins
    let mut gy = vec![0.0; s * p];
    l2norm_bwd_cpu(&y, &gz, s, p, L2_EPS, &mut gy).unwrap();
    let mut gw = vec![0.0; zw.len()];
    segment_mean_bwd_cpu(d, off, &gy, &mut gw).unwrap();
    (loss, gw)
}

#[test]
fn pooling_backward_matches_finite_differences() {
    let mut rng = Rng::new(13);
    let sizes = [3usize, 1, 5, 2, 4, 7];
    let off = SegmentDims::offsets(sizes);
    let d = SegmentDims {
        segments: sizes.len(),
        rows: sizes.iter().sum(),
        dim: 5,
    };
    let zw = rand64(&mut rng, d.rows * d.dim);
    let margin = 2.5; // every triplet active: smooth at this point
    let (_, got) = pooled_loss(&d, &off, &zw, margin);
    let want = fd(&zw, |x| pooled_loss(&d, &off, x, margin).0);
    assert_grad("pooled chain d/dzw", &got, &want, 1e-6);
    assert!(want.iter().any(|v| v.abs() > 1e-3));
}

fn tiny_conv() -> EncoderSpec {
    let window = EncoderConfig {
        k: 12,
        channels: 8,
        kernel: 5,
        blocks: 1,
        embed_dim: 16,
        proj_dim: 8,
        ..EncoderConfig::default()
    };
    EncoderSpec::Conv(PooledConfig {
        stride: 5,
        train_windows: 3,
        window,
    })
}

#[test]
fn pooled_conv_on_device_matches_cpu_reference() {
    let Some(g) = gpu() else { return };
    let be = Backend::Gpu(g);
    let spec = tiny_conv();
    let mut rng = Rng::new(14);
    // lengths below, at and above the window, with N
    let seqs: Vec<Vec<u8>> = [5usize, 12, 13, 40, 97, 11, 200, 31, 64]
        .iter()
        .map(|&n| random_seq(&mut rng, n, 0.02))
        .collect();
    let refs: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();
    let (gg, zg) = encoder_grads(&be, &spec, &refs, 0.5);
    let (gc, zc) = encoder_grads(&Backend::CpuReference, &spec, &refs, 0.5);
    assert_close("pooled embeddings", &zg, &zc, 1e-3, 1e-5);
    for (t, (a, b)) in gg.iter().zip(&gc).enumerate() {
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "param {t} has a gradient");
        assert_close(&format!("grad {t}"), a, b, 1e-2, 1e-3 * scale);
    }
    // embedding (tiled windows, inference kernels where they apply) = CPU
    let eg = SeqEncoder::init(&be, &spec, 11).unwrap();
    let ec = SeqEncoder::init(&Backend::CpuReference, &spec, 11).unwrap();
    let zg = eg.embed(&be, &refs, |_| {}).unwrap();
    let zc = ec.embed(&Backend::CpuReference, &refs, |_| {}).unwrap();
    assert_eq!(zg.len(), refs.len() * 8);
    assert_close("pooled embed", &zg, &zc, 1e-3, 1e-5);
    for row in zc.chunks(8) {
        let n: f32 = row.iter().map(|v| v * v).sum();
        assert!((n - 1.0).abs() < 1e-4, "unit embeddings");
    }
}

// ---- commands end to end ----

fn mutate(rng: &mut Rng, s: &[u8], rate: f64) -> Vec<u8> {
    s.iter()
        .map(|&b| {
            if rng.uniform() < rate {
                b"ACGT"[rng.below(4) as usize]
            } else {
                b
            }
        })
        .collect()
}

/// 2 classes × 2 mechanisms × 3 groups; each group a family of mutated
/// copies of one root (classes and mechanisms share part of their roots).
/// Writes train/val/test FASTA and a labels TSV into `dir`.
fn hierarchical_set(dir: &Path) -> [PathBuf; 4] {
    let mut rng = Rng::new(42);
    let mut tsv = String::new();
    let mut files = [String::new(), String::new(), String::new()];
    let mut id = 0;
    for c in 0..2 {
        let class_root = random_seq(&mut rng, 400, 0.0);
        for m in 0..2 {
            let mech_root = mutate(&mut rng, &class_root, 0.25);
            for gidx in 0..3 {
                let group_root = mutate(&mut rng, &mech_root, 0.15);
                for copy in 0..12 {
                    let s = mutate(&mut rng, &group_root, 0.05);
                    let split = match copy {
                        0..=7 => 0,
                        8 | 9 => 1,
                        _ => 2,
                    };
                    files[split].push_str(&format!(">seq{id}\n{}\n", String::from_utf8_lossy(&s)));
                    tsv.push_str(&format!("seq{id}\tC{c};C{c}M{m};C{c}M{m}G{gidx}\n"));
                    id += 1;
                }
            }
        }
    }
    // a query with no valid 6-mer
    files[2].push_str(">allN\nNNNNNNNNNNNN\n");
    let names = ["train.fa", "val.fa", "test.fa", "labels.tsv"];
    let paths = names.map(|n| dir.join(n));
    for (p, text) in paths.iter().zip(files.iter().chain(std::iter::once(&tsv))) {
        std::fs::write(p, text).unwrap();
    }
    paths
}

#[test]
fn classify_train_and_search_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let [train, val, test, labels] = hierarchical_set(tmp.path());
    let s = |p: &PathBuf| p.display().to_string();
    let db = tmp.path().join("small.crest-db");
    let common = [
        "--train",
        &s(&train),
        "--val",
        &s(&val),
        "--labels",
        &s(&labels),
        "--levels",
        "class,mechanism,group",
    ];
    let mut args = vec![
        "classify",
        "train",
        "--encoder",
        "kmer6",
        "--epochs",
        "3",
        "--batch",
        "16",
    ];
    args.extend(common);
    let db_s = s(&db);
    args.extend(["-o", &db_s]);
    let (code, _, err) = crest(&args);
    assert_eq!(code, 0, "{err}");
    // same seed, same inputs → the same database bytes
    let db2 = tmp.path().join("again.crest-db");
    let db2_s = s(&db2);
    let n = args.len();
    args[n - 1] = &db2_s;
    let (code, _, err) = crest(&args);
    assert_eq!(code, 0, "{err}");
    assert!(
        std::fs::read(&db).unwrap() == std::fs::read(&db2).unwrap(),
        "same seed and inputs gave different databases"
    );

    let out = tmp.path().join("hits.tsv");
    let plot = tmp.path().join("precision.svg");
    let (code, stdout, err) = crest(&[
        "classify",
        "search",
        "--db",
        &db_s,
        "--query",
        &s(&test),
        "--labels",
        &s(&labels),
        "-o",
        &s(&out),
        "--plot",
        &s(&plot),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 with no valid 6-mer"), "{err}");
    let tsv = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = tsv.lines().collect();
    assert_eq!(lines.len(), 1 + 3 * 25, "{tsv}");
    assert!(lines
        .iter()
        .any(|l| l.starts_with("allN\tclass\tunclassified\t0.0000\tNA")));
    let acc: Vec<f64> = stdout
        .lines()
        .filter(|l| l.starts_with("level "))
        .map(|l| l.split_whitespace().nth(3).unwrap().parse().unwrap())
        .collect();
    assert_eq!(acc.len(), 3, "{stdout}");
    // 24 real queries of 25: families are far apart at class level
    assert!(acc[0] >= 0.9, "class accuracy {stdout}");
    assert!(acc[2] >= 0.6, "group accuracy {stdout}");
    assert!(std::fs::read_to_string(&plot).unwrap().contains("<svg"));

    // the untrained profile baseline goes through the same path
    let pdb = tmp.path().join("profile.crest-db");
    let pdb_s = s(&pdb);
    let mut pargs = vec!["classify", "train", "--encoder", "profile"];
    pargs.extend(common);
    pargs.extend(["-o", &pdb_s]);
    let (code, _, err) = crest(&pargs);
    assert_eq!(code, 0, "{err}");
    let (code, stdout, err) = crest(&[
        "classify",
        "search",
        "--db",
        &pdb_s,
        "--query",
        &s(&test),
        "--labels",
        &s(&labels),
        "-o",
        "-",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("level group accuracy"), "{stdout}");

    // mutated databases (bit flips, truncations, garbage): an error or a
    // database, never a panic; the content checksum refuses damaged arrays
    let bytes = std::fs::read(&pdb).unwrap();
    let mut rng = crest::rng::Rng::new(21);
    let mp = tmp.path().join("mut.crest-db");
    let mut refused = 0;
    for i in 0..120 {
        let mut v = bytes.clone();
        let at = rng.below(v.len() as u64) as usize;
        match i % 3 {
            0 => v[at] ^= 1 << rng.below(8),
            1 => v.truncate(at),
            _ => {
                let junk: Vec<u8> = (0..1 + rng.below(32))
                    .map(|_| rng.below(256) as u8)
                    .collect();
                v.splice(at..at, junk);
            }
        }
        std::fs::write(&mp, &v).unwrap();
        let r = std::panic::catch_unwind(|| crest::classify::db::Database::load(&mp).is_err());
        match r {
            Ok(true) => refused += 1,
            Ok(false) => assert_ne!(i % 3, 1, "mutant {i}: a truncated database loaded"),
            Err(_) => panic!("mutant {i} of the database panicked"),
        }
    }
    assert!(
        refused >= 80,
        "only {refused} of 120 damaged databases refused"
    );

    // the pooled conv encoder, fine-tuned from the bundled mapping model
    let model = common::asset("mammoth_chrM.crest");
    let model_s = s(&model);
    let cdb_s = s(&tmp.path().join("conv.crest-db"));
    let mut cargs = vec![
        "classify",
        "train",
        "--encoder",
        "conv",
        "--init",
        &model_s,
        "--epochs",
        "1",
        "--batch",
        "16",
    ];
    cargs.extend(common);
    cargs.extend(["-o", &cdb_s]);
    let (code, _, err) = crest(&cargs);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("encoder conv"), "{err}");
    let (code, stdout, err) = crest(&[
        "classify",
        "search",
        "--db",
        &cdb_s,
        "--query",
        &s(&test),
        "--labels",
        &s(&labels),
        "-o",
        "-",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("1 with no A, C, G or T"), "{err}");
    let acc: Vec<f64> = stdout
        .lines()
        .filter(|l| l.starts_with("level "))
        .map(|l| l.split_whitespace().nth(3).unwrap().parse().unwrap())
        .collect();
    eprintln!("conv encoder accuracy per level: {acc:?}");
    assert_eq!(acc.len(), 3, "{stdout}");
    assert!(acc[0] >= 0.9, "conv class accuracy {stdout}");

    // a damaged database is refused with its name
    let mut bytes = std::fs::read(&db).unwrap();
    let at = bytes.len() / 2; // inside the largest tensor (fc1.w)
    bytes[at] ^= 0x40;
    let bad = tmp.path().join("damaged.crest-db");
    std::fs::write(&bad, &bytes).unwrap();
    let (code, _, err) = crest(&[
        "classify",
        "search",
        "--db",
        &s(&bad),
        "--query",
        &s(&test),
        "-o",
        "-",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("damaged.crest-db") && err.contains("checksum"),
        "{err}"
    );
}

#[test]
fn classify_bad_input_is_one_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let [train, val, test, labels] = hierarchical_set(tmp.path());
    let s = |p: &Path| p.display().to_string();
    let out = s(&tmp.path().join("x.crest-db"));
    let run = |train: &Path, labels: &Path, levels: &str| {
        crest(&[
            "classify",
            "train",
            "--encoder",
            "profile",
            "--train",
            &s(train),
            "--val",
            &s(&val),
            "--labels",
            &s(labels),
            "--levels",
            levels,
            "-o",
            &out,
        ])
    };
    // labels with a missing level
    let short = tmp.path().join("short.tsv");
    let text = std::fs::read_to_string(&labels).unwrap();
    std::fs::write(&short, text.replacen(";C0M0G0\n", "\n", 1)).unwrap();
    let (code, _, err) = run(&train, &short, "class,mechanism,group");
    assert_eq!(code, 1);
    assert!(err.contains("short.tsv") && err.contains("line 1"), "{err}");
    // a training record without labels
    let (code, _, err) = run(&test, &labels, "class,mechanism,group");
    assert_eq!(code, 1);
    assert!(err.contains("allN") && err.contains("no labels"), "{err}");
    // CSV without the named column
    let csv = tmp.path().join("labels.csv");
    std::fs::write(&csv, "id,class\nseq0,C0\n").unwrap();
    let (code, _, err) = crest(&[
        "classify",
        "train",
        "--train",
        &s(&train),
        "--val",
        &s(&val),
        "--labels",
        &s(&csv),
        "--id-column",
        "id",
        "--levels",
        "class,group",
        "-o",
        &out,
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("no column 'group'"), "{err}");
    // conv-only options on another encoder; a FASTA as the initial model
    let base = [
        "classify",
        "train",
        "--train",
        &s(&train),
        "--val",
        &s(&val),
        "--labels",
        &s(&labels),
        "--levels",
        "class,mechanism,group",
        "-o",
        &out,
    ];
    let mut a = base.to_vec();
    a.extend(["--encoder", "kmer6", "--window", "16"]);
    let (code, _, err) = crest(&a);
    assert_eq!(code, 1);
    assert!(
        err.contains("--window applies to --encoder conv only"),
        "{err}"
    );
    let train_s = s(&train);
    let mut a = base.to_vec();
    a.extend(["--encoder", "conv", "--init", &train_s]);
    let (code, _, err) = crest(&a);
    assert_eq!(code, 1);
    assert!(err.contains("train.fa"), "{err}");
    assert!(
        !tmp.path().join("x.crest-db").exists(),
        "no output on error"
    );
    // a file that is not a database (a FASTA, and a mapping model)
    let (code, _, err) = crest(&[
        "classify",
        "search",
        "--db",
        &s(&train),
        "--query",
        &s(&test),
        "-o",
        "-",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("not a crest classification database"), "{err}");
    let model = common::asset("mammoth_chrM.crest");
    if model.exists() {
        let (code, _, err) = crest(&[
            "classify",
            "search",
            "--db",
            &s(&model),
            "--query",
            &s(&test),
            "-o",
            "-",
        ]);
        assert_eq!(code, 1);
        assert!(err.contains("not a crest classification database"), "{err}");
    }
    assert!(!Path::new(&out).exists(), "no half-written database");
}
