//! The supervised sequence classifiers (issue 11): batch-norm, cross-entropy
//! and layout kernels against their twins and finite differences; whole
//! models (euclidean, hybrid, poincare — Poincaré convolutions included)
//! against finite differences; one full training step on the GPU against the
//! CPU twins; and `crest classify train --model / eval / predict` end to end.

mod common;

use std::sync::Arc;

use common::{assert_close, assert_grad, crest, dot, fd, gpu, rand64};
use crest::backend::{Backend, Tensor};
use crest::model::cnn::{one_hot, Cnn, CnnConfig, CnnKind, Mode};
use crest::ops::batchnorm::*;
use crest::ops::optim::{AdamConfig, AdamStep};
use crest::ops::permute::*;
use crest::ops::xent::*;
use crest::rng::Rng;
use crest::train::optimizer::{mixed_step, sumsq_buffer};

// ------------------------------------------------------------------ kernels

/// A batch-norm forward pass's host outputs.
fn out<'a, T>(stats: &'a mut [T], y: &'a mut [T]) -> BnOut<&'a mut [T]> {
    BnOut { stats, y }
}

/// The shape of a cross-entropy.
fn xd(rows: usize, classes: usize, scale: f32) -> XentDims {
    XentDims {
        rows,
        classes,
        scale,
    }
}

/// The batch-norm backward pass's host outputs.
fn grads<'a, T>(dx: &'a mut [T], dgb: &'a mut [T]) -> BnGrads<&'a mut [T]> {
    BnGrads { dx, dgb }
}

#[test]
fn batchnorm_backward_matches_finite_differences() {
    let mut rng = Rng::new(31);
    let cfg = BnConfig {
        eps: 1e-5,
        momentum: 0.0,
    };
    for (batch, channels, len) in [(2, 3, 5), (3, 1, 1), (1, 2, 7)] {
        let d = BnDims {
            batch,
            channels,
            len,
        };
        let x = rand64(&mut rng, d.n());
        let gb: Vec<f64> = rand64(&mut rng, 2 * channels)
            .iter()
            .map(|v| v + 1.5)
            .collect();
        let dy = rand64(&mut rng, d.n());
        let loss = |x: &[f64], gb: &[f64]| {
            let mut run = vec![0.0; 2 * channels];
            let (mut st, mut y) = (vec![0.0; 2 * channels], vec![0.0; d.n()]);
            bn_train_cpu(&d, &cfg, x, gb, &mut run, out(&mut st, &mut y)).unwrap();
            dot(&y, &dy)
        };
        let mut run = vec![0.0; 2 * channels];
        let (mut st, mut y) = (vec![0.0; 2 * channels], vec![0.0; d.n()]);
        bn_train_cpu(&d, &cfg, &x, &gb, &mut run, out(&mut st, &mut y)).unwrap();
        let (mut dx, mut dg) = (vec![0.0; d.n()], vec![0.0; 2 * channels]);
        bn_backward_cpu(&d, &x, &dy, &gb, &st, grads(&mut dx, &mut dg)).unwrap();
        assert_grad("bn dx", &dx, &fd(&x, |x| loss(x, &gb)), 1e-5);
        assert_grad("bn dγβ", &dg, &fd(&gb, |g| loss(&x, g)), 1e-5);
    }
}

#[test]
fn batchnorm_running_statistics_and_inference() {
    let d = BnDims {
        batch: 2,
        channels: 1,
        len: 2,
    };
    let x = [1.0f64, 3.0, 5.0, 7.0];
    let gb = [2.0, 0.5];
    let mut run = vec![0.0, 1.0];
    let (mut st, mut y) = (vec![0.0; 2], vec![0.0; 4]);
    let cfg = BnConfig {
        eps: 0.0,
        momentum: 0.5,
    };
    bn_train_cpu(&d, &cfg, &x, &gb, &mut run, out(&mut st, &mut y)).unwrap();
    // mean 4, biased var 5, unbiased 20/3
    assert!((st[0] - 4.0).abs() < 1e-12 && (st[1] - 1.0 / 5f64.sqrt()).abs() < 1e-12);
    assert!((run[0] - 2.0).abs() < 1e-12 && (run[1] - (0.5 + 0.5 * 20.0 / 3.0)).abs() < 1e-12);
    let mut yi = vec![0.0; 4];
    bn_infer_cpu(&d, 0.0, &x, &gb, &run, out(&mut st, &mut yi)).unwrap();
    let want = 2.0 * (1.0 - 2.0) / run[1].sqrt() + 0.5;
    assert!((yi[0] - want).abs() < 1e-12, "{} vs {want}", yi[0]);
}

#[test]
fn xent_matches_finite_differences_and_rejects_bad_labels() {
    let mut rng = Rng::new(32);
    let (rows, k) = (5, 4);
    let z = rand64(&mut rng, rows * k);
    let labels: Vec<f32> = (0..rows).map(|r| (r % k) as f32).collect();
    let (mut loss, mut dz) = (vec![0.0; rows], vec![0.0; rows * k]);
    xent_cpu(&xd(rows, k, 1.0), &z, &labels, &mut loss, &mut dz).unwrap();
    let total = |z: &[f64]| {
        let (mut l, mut g) = (vec![0.0; rows], vec![0.0; rows * k]);
        xent_cpu(&xd(rows, k, 1.0), z, &labels, &mut l, &mut g).unwrap();
        l.iter().sum::<f64>()
    };
    assert_grad("xent dz", &dz, &fd(&z, total), 1e-6);
    let bad = [0.0f32, 4.0, 1.0, 0.0, 2.0];
    assert!(xent_cpu(&xd(rows, k, 1.0), &z, &bad, &mut loss, &mut dz).is_err());
}

#[test]
fn new_kernels_match_twins_on_awkward_sizes() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(33);
    let cfg = BnConfig {
        eps: BN_EPS,
        momentum: 0.1,
    };
    for (batch, channels, len) in [(3, 5, 17), (1, 1, 1), (7, 33, 9), (2, 3, 301)] {
        let d = BnDims {
            batch,
            channels,
            len,
        };
        let x = rng.vec_f32(d.n(), -2.0, 3.0);
        let gb = rng.vec_f32(2 * channels, 0.5, 1.5);
        let dy = rng.vec_f32(d.n(), -1.0, 1.0);
        let run0 = rng.vec_f32(2 * channels, 0.1, 1.0);
        let (mut run, mut st, mut y) = (
            run0.clone(),
            vec![0.0f32; 2 * channels],
            vec![0.0f32; d.n()],
        );
        bn_train_cpu(&d, &cfg, &x, &gb, &mut run, out(&mut st, &mut y)).unwrap();
        let (gx, ggb, gdy) = (
            g.upload("x", &x).unwrap(),
            g.upload("gb", &gb).unwrap(),
            g.upload("dy", &dy).unwrap(),
        );
        let grun = g.upload("run", &run0).unwrap();
        let (gst, gy) = (
            g.poisoned("st", 2 * channels).unwrap(),
            g.poisoned("y", d.n()).unwrap(),
        );
        bn_train_gpu(
            &g,
            &d,
            &cfg,
            &gx,
            &ggb,
            &grun,
            BnOut {
                stats: &gst,
                y: &gy,
            },
        )
        .unwrap();
        let tag = format!("{d:?}");
        assert_close(
            &format!("bn y {tag}"),
            &g.read(&gy).unwrap(),
            &y,
            1e-4,
            1e-4,
        );
        assert_close(
            &format!("bn stats {tag}"),
            &g.read(&gst).unwrap(),
            &st,
            1e-4,
            1e-4,
        );
        assert_close(
            &format!("bn running {tag}"),
            &g.read(&grun).unwrap(),
            &run,
            1e-4,
            1e-5,
        );
        let (mut dx, mut dg) = (vec![0.0f32; d.n()], vec![0.0f32; 2 * channels]);
        bn_backward_cpu(&d, &x, &dy, &gb, &st, grads(&mut dx, &mut dg)).unwrap();
        let (gdx, gdg) = (
            g.poisoned("dx", d.n()).unwrap(),
            g.poisoned("dg", 2 * channels).unwrap(),
        );
        let gr = BnGrads {
            dx: &gdx,
            dgb: &gdg,
        };
        bn_backward_gpu(&g, &d, &gx, &gdy, &ggb, &gst, gr).unwrap();
        assert_close(
            &format!("bn dx {tag}"),
            &g.read(&gdx).unwrap(),
            &dx,
            1e-3,
            1e-4,
        );
        assert_close(
            &format!("bn dγβ {tag}"),
            &g.read(&gdg).unwrap(),
            &dg,
            1e-3,
            1e-3,
        );
        let mut yi = vec![0.0f32; d.n()];
        bn_infer_cpu(&d, BN_EPS, &x, &gb, &run, out(&mut st, &mut yi)).unwrap();
        let gyi = g.poisoned("yi", d.n()).unwrap();
        bn_infer_gpu(
            &g,
            &d,
            BN_EPS,
            &gx,
            &ggb,
            &grun,
            BnOut {
                stats: &gst,
                y: &gyi,
            },
        )
        .unwrap();
        assert_close(
            &format!("bn infer {tag}"),
            &g.read(&gyi).unwrap(),
            &yi,
            1e-4,
            1e-4,
        );
        // transpose and scale on the same shape
        let td = TransposeDims {
            outer: batch,
            a: channels,
            b: len,
        };
        let mut t = vec![0.0f32; d.n()];
        transpose_cpu(&td, &x, &mut t).unwrap();
        let gt = g.poisoned("t", d.n()).unwrap();
        transpose_gpu(&g, &td, &gx, &gt).unwrap();
        assert_eq!(g.read::<f32>(&gt).unwrap(), t, "transpose {tag}");
        let mut back = vec![0.0f32; d.n()];
        transpose_cpu(&td.inverse(), &t, &mut back).unwrap();
        assert_eq!(back, x, "transpose round trip {tag}");
        let mut s = vec![0.0f32; d.n()];
        scale_cpu(d.n(), -0.37, &x, &mut s).unwrap();
        let gs = g.poisoned("s", d.n()).unwrap();
        scale_gpu(&g, d.n(), -0.37, &gx, &gs).unwrap();
        assert_close(
            &format!("scale {tag}"),
            &g.read(&gs).unwrap(),
            &s,
            1e-6,
            1e-7,
        );
    }
    for (rows, k) in [(1, 2), (37, 3), (300, 5)] {
        let z = rng.vec_f32(rows * k, -4.0, 4.0);
        let labels: Vec<f32> = (0..rows).map(|_| rng.below(k as u64) as f32).collect();
        let (mut loss, mut dz) = (vec![0.0f32; rows], vec![0.0f32; rows * k]);
        xent_cpu(&xd(rows, k, 0.25), &z, &labels, &mut loss, &mut dz).unwrap();
        let gz = g.upload("z", &z).unwrap();
        let gl = g.upload("l", &labels).unwrap();
        let (go, gd) = (
            g.poisoned("loss", rows).unwrap(),
            g.poisoned("dz", rows * k).unwrap(),
        );
        xent_gpu(&g, &xd(rows, k, 0.25), &gz, &labels, &gl, &go, &gd).unwrap();
        assert_close("xent loss", &g.read(&go).unwrap(), &loss, 1e-4, 1e-5);
        assert_close("xent dz", &g.read(&gd).unwrap(), &dz, 1e-4, 1e-6);
    }
}

// ------------------------------------------------------------------ models

fn tiny(kind: CnnKind) -> CnnConfig {
    CnnConfig {
        kind,
        len: 7,
        classes: 3,
        channels: 3,
        kernel: 3,
        blocks: 1,
        hidden: 5,
        curvature: 0.8,
        learn_curvature: kind.hyperbolic(),
    }
}

fn batch(rng: &mut Rng, n: usize, len: usize, classes: usize) -> (Vec<f32>, Vec<f32>) {
    let seqs: Vec<Vec<u8>> = (0..n)
        .map(|_| (0..len).map(|_| b"ACGTN"[rng.below(5) as usize]).collect())
        .collect();
    let refs: Vec<&[u8]> = seqs.iter().map(Vec::as_slice).collect();
    let labels = (0..n).map(|_| rng.below(classes as u64) as f32).collect();
    (one_hot(&refs, len), labels)
}

fn cpu_vals(t: &Tensor) -> &Vec<f32> {
    match t {
        Tensor::Cpu(v) => v,
        Tensor::Gpu(_) => panic!("cpu tensor expected"),
    }
}

fn set_vals(t: &mut Tensor, v: Vec<f32>) {
    *t = Tensor::Cpu(v);
}

/// Summed cross-entropy of the batch (Train mode: batch statistics).
fn model_loss(be: &Backend, m: &mut Cnn, x: &Tensor, labels: &[f32], n: usize) -> f64 {
    let act = m.forward(be, x, n, Mode::Train).unwrap();
    let k = m.cfg.classes;
    let (mut l, mut dz) = (be.zeros(n).unwrap(), be.zeros(n * k).unwrap());
    be.xent(&xd(n, k, 1.0), &act.logits, labels, &mut l, &mut dz)
        .unwrap();
    be.read(&l).unwrap().iter().map(|&v| v as f64).sum()
}

/// Directional derivative of the loss along a random direction in each
/// parameter tensor, analytic (⟨∇L, d⟩) against central differences in f32.
fn check_model_gradients(kind: CnnKind) {
    let be = Backend::CpuReference;
    let cfg = tiny(kind);
    let mut rng = Rng::new(40 + kind as u64);
    let mut m = Cnn::init(&be, &cfg, 5).unwrap();
    // move the ball biases off the origin and perturb batch norm
    for p in &mut m.params {
        let v: Vec<f32> = cpu_vals(&p.value)
            .iter()
            .map(|&x| {
                if p.name.ends_with(".hb") {
                    rng.range_f32(-0.3, 0.3)
                } else {
                    x
                }
            })
            .collect();
        set_vals(&mut p.value, v);
    }
    let n = 4;
    let (x, labels) = batch(&mut rng, n, cfg.len, cfg.classes);
    let x = be.upload(&x).unwrap();
    let act = m.forward(&be, &x, n, Mode::Train).unwrap();
    let k = cfg.classes;
    let (mut l, mut dz) = (be.zeros(n).unwrap(), be.zeros(n * k).unwrap());
    be.xent(&xd(n, k, 1.0), &act.logits, &labels, &mut l, &mut dz)
        .unwrap();
    m.backward(&be, &act, &dz).unwrap();
    let grads: Vec<Vec<f32>> = m.params.iter().map(|p| cpu_vals(&p.grad).clone()).collect();
    for (i, grad) in grads.iter().enumerate() {
        let name = m.params[i].name.clone();
        let v0 = cpu_vals(&m.params[i].value).clone();
        let dir: Vec<f32> = (0..v0.len()).map(|_| rng.range_f32(-1.0, 1.0)).collect();
        let analytic: f64 = grad
            .iter()
            .zip(&dir)
            .map(|(g, d)| (*g as f64) * (*d as f64))
            .sum();
        let h = 5e-4f32;
        let mut at = |s: f32| {
            let v: Vec<f32> = v0.iter().zip(&dir).map(|(a, d)| a + s * d).collect();
            set_vals(&mut m.params[i].value, v);
            model_loss(&be, &mut m, &x, &labels, n)
        };
        let numeric = (at(h) - at(-h)) / (2.0 * h as f64);
        set_vals(&mut m.params[i].value, v0);
        let tol = 2e-2 * analytic.abs().max(numeric.abs()) + 1e-3;
        if std::env::var("CNN_GRAD_DEBUG").is_ok() {
            eprintln!("{kind:?} {name}: analytic {analytic}, numeric {numeric}");
            continue;
        }
        assert!(
            (analytic - numeric).abs() <= tol,
            "{kind:?} {name}: analytic {analytic}, finite difference {numeric}"
        );
    }
}

#[test]
fn euclidean_model_gradients_match_finite_differences() {
    check_model_gradients(CnnKind::Euclidean);
}

#[test]
fn hybrid_model_gradients_match_finite_differences() {
    check_model_gradients(CnnKind::Hybrid);
}

/// Covers the Poincaré convolutions (stem.* and b0.c*.* are Poincaré conv
/// weights and ball biases), the Möbius residual, the β-concatenated FC, the
/// MLR and the learned curvature.
#[test]
fn poincare_model_gradients_match_finite_differences() {
    check_model_gradients(CnnKind::Poincare);
}

#[test]
fn one_training_step_on_the_gpu_equals_the_cpu_twins() {
    let Some(g) = gpu() else { return };
    let gbe = Backend::Gpu(Arc::clone(&g));
    let cbe = Backend::CpuReference;
    for kind in [CnnKind::Euclidean, CnnKind::Hybrid, CnnKind::Poincare] {
        let cfg = CnnConfig {
            len: 23,
            channels: 5,
            blocks: 2,
            hidden: 11,
            ..tiny(kind)
        };
        let mut rng = Rng::new(50 + kind as u64);
        let n = 9;
        let (x, labels) = batch(&mut rng, n, cfg.len, cfg.classes);
        // a large ε keeps the first Adam step smooth in the gradient (sign-like
        // steps on near-zero gradients would amplify f32 rounding differences)
        let adam = AdamConfig {
            eps: 1e-2,
            ..AdamConfig::default()
        };
        let st = AdamStep { lr: 1e-2, t: 1 };
        let mut after = Vec::new();
        for be in [&cbe, &gbe] {
            let mut m = Cnn::init(be, &cfg, 9).unwrap();
            let xt = be.upload(&x).unwrap();
            let act = m.forward(be, &xt, n, Mode::Train).unwrap();
            let logits = be.read(&act.logits).unwrap();
            let (mut l, mut dz) = (be.zeros(n).unwrap(), be.zeros(n * cfg.classes).unwrap());
            be.xent(
                &xd(n, cfg.classes, 1.0 / n as f32),
                &act.logits,
                &labels,
                &mut l,
                &mut dz,
            )
            .unwrap();
            m.backward(be, &act, &dz).unwrap();
            let grads: Vec<Vec<f32>> = m.params.iter().map(|p| be.read(&p.grad).unwrap()).collect();
            let mut sumsq = sumsq_buffer(be, m.params.len()).unwrap();
            mixed_step(
                be,
                &adam,
                &st,
                &mut sumsq,
                &mut m.params,
                cfg.learn_curvature,
            )
            .unwrap();
            let vals = m.values(be).unwrap();
            after.push((logits, grads, vals));
        }
        let (c, gp) = (&after[0], &after[1]);
        assert_close(&format!("{kind:?} logits"), &gp.0, &c.0, 1e-3, 1e-4);
        let names: Vec<String> = Cnn::init(&cbe, &cfg, 9)
            .unwrap()
            .params
            .iter()
            .map(|p| p.name.clone())
            .collect();
        for (i, name) in names.iter().enumerate() {
            assert_close(
                &format!("{kind:?} grad {name}"),
                &gp.1[i],
                &c.1[i],
                2e-2,
                1e-4,
            );
        }
        for ((name, _, cv), (_, _, gv)) in c.2.iter().zip(&gp.2) {
            assert_close(&format!("{kind:?} after step {name}"), gv, cv, 1e-3, 1e-5);
        }
    }
}

#[test]
fn beta_ratio_matches_closed_forms() {
    use crest::model::cnn::beta_ratio;
    // B(1, 1/2) = 2, B(1/2, 1/2) = π, B(3/2, 1/2) = π/2
    assert!((beta_ratio(2, 1) as f64 - 2.0 / std::f64::consts::PI).abs() < 1e-6);
    assert!((beta_ratio(3, 2) as f64 - (std::f64::consts::PI / 2.0) / 2.0).abs() < 1e-6);
    assert!((beta_ratio(5, 5) - 1.0).abs() < 1e-6);
    // large n: β(n/2,1/2)/β(m/2,1/2) → √(m/n)
    assert!((beta_ratio(9 * 32, 32) - 1.0 / 3.0).abs() < 0.01);
}

// ------------------------------------------------------------------ command

/// A motif task: class 1 sequences carry TATAAAAG somewhere, class 0 do not.
fn motif_csv(path: &std::path::Path, n: usize, seed: u64, header: &str) {
    let mut rng = Rng::new(seed);
    let mut s = format!("{header}\n");
    for _ in 0..n {
        let mut seq: Vec<u8> = (0..24).map(|_| b"ACGT"[rng.below(4) as usize]).collect();
        let y = rng.below(2);
        if y == 1 {
            let p = rng.below(16) as usize;
            seq[p..p + 8].copy_from_slice(b"TATAAAAG");
        }
        s.push_str(&format!("{},{y},extra\n", String::from_utf8(seq).unwrap()));
    }
    std::fs::write(path, s).unwrap();
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("crest-cnn-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn classify_train_eval_predict_end_to_end_and_bad_input() {
    let (train, dev, test) = (tmp("train.csv"), tmp("dev.csv"), tmp("test.csv"));
    motif_csv(&train, 800, 1, "sequence,label,note");
    motif_csv(&dev, 120, 2, "sequence,label,note");
    motif_csv(&test, 150, 3, "seq,label,note");
    let model = tmp("m.crest");
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let small = [
        "--channels",
        "8",
        "--hidden",
        "32",
        "--batch",
        "16",
        "--seed",
        "3",
    ];
    let mut args = vec![
        "classify", "train", "--model", "poincare", "--epochs", "8", "--lr", "3e-3",
    ];
    let (ts, ds, ms, es) = (s(&train), s(&dev), s(&model), s(&test));
    args.extend(["--train", &ts, "--dev", &ds, "-o", &ms]);
    args.extend(small);
    let (code, _, err) = crest(&args);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = crest(&["classify", "eval", "--model", &ms, "--test", &es]);
    assert_eq!(code, 0, "{err}");
    let acc: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("accuracy "))
        .expect("accuracy line")
        .parse()
        .unwrap();
    assert!(out.lines().any(|l| l.starts_with("MCC ")), "{out}");
    assert!(acc > 0.9, "motif task accuracy {acc}\n{out}");
    // predictions: one row per sequence, probabilities summing to one;
    // a longer sequence is classified by windows (said on stderr)
    let fa = tmp("q.fa");
    let long = format!("{}TATAAAAG{}", "ACGT".repeat(20), "GCA".repeat(10));
    std::fs::write(&fa, format!(">a\nACGTACGTTATAAAAGACGT\n>b long\n{long}\n")).unwrap();
    let pred = tmp("pred.tsv");
    let (code, _, err) = crest(&[
        "classify",
        "predict",
        "--model",
        &ms,
        "--input",
        &s(&fa),
        "-o",
        &s(&pred),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("windows"), "{err}");
    let tsv = std::fs::read_to_string(&pred).unwrap();
    let rows: Vec<Vec<&str>> = tsv
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        let p: f64 = r[2..].iter().map(|v| v.parse::<f64>().unwrap()).sum();
        assert!((p - 1.0).abs() < 1e-4, "{r:?}");
    }
    // same seed, same inputs → identical model file
    let model2 = tmp("m2.crest");
    let ms2 = s(&model2);
    let mut args2 = args.clone();
    let last = args2.iter().position(|a| *a == ms.as_str()).unwrap();
    args2[last] = &ms2;
    assert_eq!(crest(&args2).0, 0);
    assert_eq!(
        std::fs::read(&model).unwrap(),
        std::fs::read(&model2).unwrap()
    );

    // bad input: one clear error naming file and line, non-zero exit
    let bad = |name: &str, text: &str| {
        let p = tmp(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let cases = [
        (
            bad("unknown.csv", "sequence,label\nACGT,0\nACGT,7\n"),
            "line3: label 7 is unknown",
        ),
        (bad("nocol.csv", "seq,class\nACGT,0\n"), "line 1"),
        (
            bad("letters.csv", "sequence,label\nACGT,0\nACXT,1\n"),
            "line 3",
        ),
        (bad("empty.csv", "sequence,label\n"), "empty split"),
        (
            bad("float.csv", "sequence,label\nACGT,0\nACGT,0.5\n"),
            "line 3",
        ),
    ];
    for (path, want) in &cases {
        let (code, _, err) = crest(&["classify", "eval", "--model", &ms, "--test", &s(path)]);
        assert_ne!(code, 0, "{}", path.display());
        assert!(
            err.contains(path.file_name().unwrap().to_str().unwrap()) && err.contains(want),
            "{}: {err}",
            path.display()
        );
    }
    // FASTA labels through --label-regex
    let fl = bad(
        "lab.fa",
        ">s1 class=1\nTATAAAAGACGTACGTACGT\n>s2 class=0\nACGTACGTACGTACGTACGT\n",
    );
    let (code, out, err) = crest(&[
        "classify",
        "eval",
        "--model",
        &ms,
        "--test",
        &s(&fl),
        "--label-regex",
        r"class=(?P<label>\d+)",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"mcc\""), "{out}");
    // an output over an input is refused
    let (code, _, err) = crest(&[
        "classify", "predict", "--model", &ms, "--input", &es, "-o", &es,
    ]);
    assert_ne!(code, 0, "{err}");
    assert!(std::fs::read_to_string(&test)
        .unwrap()
        .starts_with("seq,label"));
    let _ = std::fs::remove_dir_all(
        tmp("")
            .parent()
            .unwrap()
            .join(format!("crest-cnn-{}", std::process::id())),
    );
}

#[test]
fn csv_and_fasta_parsing() {
    use crest::classify::table::{LabelledSeqs, TableFormat};
    let p = tmp("parse.csv");
    std::fs::write(&p, "id,seq,label\nx,acgtn,1\n\"y,z\",GGCC,0\r\n\n").unwrap();
    let t = LabelledSeqs::load(&p, &TableFormat::default()).unwrap();
    assert_eq!(t.seqs, vec![b"ACGTN".to_vec(), b"GGCC".to_vec()]);
    assert_eq!(t.labels, vec![1, 0]);
    assert_eq!(t.classes(), 2);
    let f = tmp("parse.fa");
    std::fs::write(&f, ">a label=2\nAC\nGT\n>b label=0\nTT\n").unwrap();
    let fmt = TableFormat {
        label_regex: Some(r"label=(\d+)".into()),
        ..Default::default()
    };
    let t = LabelledSeqs::load(&f, &fmt).unwrap();
    assert_eq!(t.ids, vec!["a", "b"]);
    assert_eq!(t.seqs[0], b"ACGT".to_vec());
    assert_eq!(t.labels, vec![2, 0]);
    assert!(LabelledSeqs::load(&f, &TableFormat::default()).is_err());
    let (a, b) = t.split(0.5, 7);
    assert_eq!(a.len() + b.len(), 2);
}
