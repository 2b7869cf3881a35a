//! Training: the loss and the whole encoder's backward pass against finite
//! differences, a full training step GPU vs CPU twin, determinism of the model
//! file, resume, and refusal of a model for another reference.

mod common;
use common::asset;

use std::path::Path;

use crest::backend::{Backend, Tensor};
use crest::io::Reference;
use crest::model::{Checkpoint, Encoder, EncoderConfig, Geometry};
use crest::ops::loss::supcon_cpu;
use crest::rng::Rng;
use crest::train::{TrainConfig, Trainer};

fn small_cfg() -> EncoderConfig {
    EncoderConfig {
        k: 11,
        channels: 5,
        kernel: 3,
        blocks: 2,
        embed_dim: 7,
        proj_dim: 6,
        geometry: Geometry::Euclidean,
        curvature: 1.0,
        learn_curvature: false,
    }
}

fn small_poincare_cfg() -> EncoderConfig {
    EncoderConfig {
        geometry: Geometry::Poincare,
        curvature: 0.7,
        learn_curvature: true,
        ..small_cfg()
    }
}

#[test]
fn supcon_gradient_matches_finite_differences() {
    let mut rng = Rng::new(31);
    let n = 9;
    let labels: Vec<[u32; 2]> = (0..n)
        .map(|i| [(i % 2) as u32, (rng.below(40)) as u32])
        .collect();
    let s: Vec<f64> = (0..n * n).map(|_| rng.uniform() * 4.0 - 2.0).collect();
    for gamma in [0u32, 10, 50] {
        let mut ds = vec![0.0; n * n];
        let mut rows = vec![0.0; n];
        supcon_cpu(&s, &labels, gamma, &mut ds, &mut rows).unwrap();
        let h = 1e-6;
        let mut sp = s.clone();
        for i in 0..n * n {
            let v = sp[i];
            sp[i] = v + h;
            let up = supcon_cpu(
                &sp,
                &labels,
                gamma,
                &mut vec![0.0; n * n],
                &mut vec![0.0; n],
            )
            .unwrap();
            sp[i] = v - h;
            let down = supcon_cpu(
                &sp,
                &labels,
                gamma,
                &mut vec![0.0; n * n],
                &mut vec![0.0; n],
            )
            .unwrap();
            sp[i] = v;
            let fd = (up - down) / (2.0 * h);
            assert!(
                (ds[i] - fd).abs() < 1e-6 * (1.0 + fd.abs()),
                "gamma {gamma} dS[{i}]: {} vs fd {fd}",
                ds[i]
            );
        }
    }
}

#[test]
fn supcon_gpu_matches_twin() {
    let Some(g) = common::gpu() else { return };
    let mut rng = Rng::new(32);
    for n in [2usize, 17, 300] {
        let labels: Vec<[u32; 2]> = (0..n)
            .map(|i| [(i % 3) as u32, rng.below(100) as u32])
            .collect();
        let s: Vec<f32> = rng.vec_f32(n * n, -5.0, 5.0);
        let mut ds = vec![0.0; n * n];
        let mut rows = vec![0.0; n];
        supcon_cpu(&s, &labels, 16, &mut ds, &mut rows).unwrap();
        let be = Backend::Gpu(g.clone());
        let st = be.upload(&s).unwrap();
        let mut gds = Tensor::Gpu(g.poisoned("ds", n * n).unwrap());
        let mut grows = Tensor::Gpu(g.poisoned("rows", n).unwrap());
        be.supcon(&st, &labels, 16, &mut gds, &mut grows).unwrap();
        common::assert_close("supcon dS", &be.read(&gds).unwrap(), &ds, 1e-4, 1e-6);
        common::assert_close("supcon rows", &be.read(&grows).unwrap(), &rows, 1e-4, 1e-5);
    }
}

/// L = Σ z ⊙ w for a fixed random w, through the whole encoder.
fn encoder_loss(be: &Backend, enc: &Encoder, x: &[f32], batch: usize, w: &[f32]) -> f64 {
    let act = enc.forward(be, be.upload(x).unwrap(), batch).unwrap();
    be.read(&act.z)
        .unwrap()
        .iter()
        .zip(w)
        .map(|(a, b)| *a as f64 * *b as f64)
        .sum()
}

#[test]
fn encoder_backward_matches_finite_differences() {
    check_encoder_gradients(&small_cfg());
}

/// The Poincaré encoder (exp₀, projection, Möbius matvec and bias) with a
/// learned curvature: every tensor including hyp.b (a ball point) and curv.c.
#[test]
fn poincare_encoder_backward_matches_finite_differences() {
    check_encoder_gradients(&small_poincare_cfg());
}

fn check_encoder_gradients(cfg: &EncoderConfig) {
    // CPU reference backend (f32): directional derivatives per parameter
    // tensor, with a step large enough for f32 and a matching tolerance.
    let be = Backend::CpuReference;
    let cfg = cfg.clone();
    let mut enc = Encoder::init(&be, &cfg, 3).unwrap();
    let mut rng = Rng::new(33);
    // Biases start at zero, which puts pre-activations of all-zero receptive
    // fields exactly on the ReLU kink; move them off it (the Möbius bias stays
    // well inside the ball).
    for p in &mut enc.params {
        let r = if p.name == "hyp.b" { 0.1 } else { 0.3 };
        if p.name.ends_with(".b") {
            p.value = be.upload(&rng.vec_f32(p.value.len(), -r, r)).unwrap();
        }
    }
    let values: Vec<Vec<f32>> = enc
        .params
        .iter()
        .map(|p| be.read(&p.value).unwrap())
        .collect();
    let batch = 3;
    let x: Vec<f32> = (0..batch * 4 * cfg.k)
        .map(|_| if rng.uniform() < 0.25 { 1.0 } else { 0.0 })
        .collect();
    let w = rng.vec_f32(batch * cfg.proj_dim, -1.0, 1.0);
    let act = enc.forward(&be, be.upload(&x).unwrap(), batch).unwrap();
    let dz = be.upload(&w).unwrap();
    enc.backward(&be, &act, &dz).unwrap();
    for t in 0..enc.params.len() {
        let grad = be.read(&enc.params[t].grad).unwrap();
        let value = be.read(&enc.params[t].value).unwrap();
        let dir = rng.vec_f32(value.len(), -1.0, 1.0);
        let analytic: f64 = grad
            .iter()
            .zip(&dir)
            .map(|(g, d)| *g as f64 * *d as f64)
            .sum();
        let h = 1e-3f32;
        let shifted = |sign: f32| -> Vec<f32> {
            value
                .iter()
                .zip(&dir)
                .map(|(v, d)| v + sign * h * d)
                .collect()
        };
        let mut e2 = Encoder::init(&be, &cfg, 3).unwrap();
        for (p, v) in e2.params.iter_mut().zip(&values) {
            p.value = be.upload(v).unwrap();
        }
        e2.params[t].value = be.upload(&shifted(1.0)).unwrap();
        let up = encoder_loss(&be, &e2, &x, batch, &w);
        e2.params[t].value = be.upload(&shifted(-1.0)).unwrap();
        let down = encoder_loss(&be, &e2, &x, batch, &w);
        let fd = (up - down) / (2.0 * h as f64);
        assert!(
            (analytic - fd).abs() <= 1e-2 * (analytic.abs().max(fd.abs())) + 5e-4,
            "{}: analytic {analytic}, finite difference {fd}",
            enc.params[t].name
        );
    }
}

fn tiny_train_cfg(steps: u64) -> TrainConfig {
    let mut c = TrainConfig {
        anchors: 12,
        steps,
        ..Default::default()
    };
    c.adam.warmup = 2;
    c
}

#[test]
fn full_training_step_gpu_matches_cpu_twin() {
    training_steps_match(&small_cfg());
}

/// Poincaré: pdist loss, Riemannian Adam on the Möbius bias, learned curvature.
#[test]
fn poincare_training_step_gpu_matches_cpu_twin() {
    training_steps_match(&small_poincare_cfg());
}

fn training_steps_match(cfg: &EncoderConfig) {
    let Some(g) = common::gpu() else { return };
    let reference = Reference::load(&asset("phix174.fa")).unwrap();
    let cfg = cfg.clone();
    let gpu = Backend::Gpu(g);
    let cpu = Backend::CpuReference;
    let mut tg = Trainer::on_reference(&gpu, &reference, &cfg, tiny_train_cfg(3), 5).unwrap();
    let mut tc = Trainer::on_reference(&cpu, &reference, &cfg, tiny_train_cfg(3), 5).unwrap();
    for _ in 0..3 {
        tg.train_step().unwrap();
        tc.train_step().unwrap();
    }
    let (lg, lc) = (tg.take_loss().unwrap(), tc.take_loss().unwrap());
    assert!((lg - lc).abs() < 1e-4 * lc.abs(), "loss gpu {lg} cpu {lc}");
    let vg = tg.encoder.values(&gpu).unwrap();
    let vc = tc.encoder.values(&cpu).unwrap();
    for ((name, _, a), (_, _, b)) in vg.iter().zip(&vc) {
        common::assert_close(&format!("param {name} after 3 steps"), a, b, 1e-3, 1e-5);
    }
}

#[test]
fn same_seed_gives_identical_model_file_and_resume_continues_exactly() {
    let Some(g) = common::gpu() else { return };
    let be = Backend::Gpu(g);
    let reference = Reference::load(&asset("phix174.fa")).unwrap();
    let cfg = small_cfg();
    let dir = tempfile::tempdir().unwrap();
    let run = |steps: u64, stop: u64, resume: Option<&Path>, out: &Path| {
        let mut t = Trainer::on_reference(&be, &reference, &cfg, tiny_train_cfg(steps), 9).unwrap();
        if let Some(r) = resume {
            t.resume(&Checkpoint::load(r).unwrap()).unwrap();
        }
        t.run(stop, 1, None, &mut ()).unwrap();
        t.checkpoint(true).unwrap().save(out).unwrap();
    };
    let (a, b) = (dir.path().join("a.crest"), dir.path().join("b.crest"));
    run(6, 6, None, &a);
    run(6, 6, None, &b);
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "same seed, different model files"
    );
    // Stop at 3, resume to 6: identical to the uninterrupted run.
    let (half, resumed) = (dir.path().join("h.crest"), dir.path().join("r.crest"));
    run(6, 3, None, &half);
    run(6, 6, Some(&half), &resumed);
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&resumed).unwrap(),
        "resumed run differs"
    );
    // A different seed gives a different model.
    let mut t = Trainer::on_reference(&be, &reference, &cfg, tiny_train_cfg(6), 10).unwrap();
    t.run(6, 1, None, &mut ()).unwrap();
    let c = dir.path().join("c.crest");
    t.checkpoint(true).unwrap().save(&c).unwrap();
    assert_ne!(std::fs::read(&a).unwrap(), std::fs::read(&c).unwrap());
}

#[test]
fn model_for_another_reference_is_refused() {
    let be = Backend::CpuReference;
    let phix = Reference::load(&asset("phix174.fa")).unwrap();
    let mammoth = Reference::load(&asset("mammoth_chrM.fa")).unwrap();
    let t = Trainer::on_reference(&be, &phix, &small_cfg(), tiny_train_cfg(1), 1).unwrap();
    let ck = t.checkpoint(false).unwrap();
    ck.meta
        .check_reference(Path::new("m.crest"), &phix, Path::new("phix.fa"))
        .unwrap();
    let e = ck
        .meta
        .check_reference(Path::new("m.crest"), &mammoth, Path::new("mammoth.fa"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("different reference") && e.contains("m.crest") && e.contains("mammoth.fa"),
        "{e}"
    );
    // Through the CLI, the encoder may be measured on another genome (how it
    // generalises), with a note saying so.
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("phix.crest");
    ck.save(&m).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_crest"))
        .args([
            "eval-embed",
            "--device",
            "cpu-reference",
            "--queries",
            "50",
            "--model",
        ])
        .arg(&m)
        .arg("--reference")
        .arg(asset("mammoth_chrM.fa"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("trained on another reference"), "{err}");
    // A file that is not a model.
    let e = Checkpoint::load(&asset("phix174.fa"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a crest model"), "{e}");
}

#[test]
fn init_starts_from_another_models_encoder_and_refuses_another_architecture() {
    let be = Backend::CpuReference;
    let phix = Reference::load(&asset("phix174.fa")).unwrap();
    let mammoth = Reference::load(&asset("mammoth_chrM.fa")).unwrap();
    let mut a = Trainer::on_reference(&be, &phix, &small_cfg(), tiny_train_cfg(2), 1).unwrap();
    a.run(2, 1, None, &mut ()).unwrap();
    let ck = a.checkpoint(false).unwrap();
    // another genome, another seed: after init, the encoder is a's, at step 0
    let mut b = Trainer::on_reference(&be, &mammoth, &small_cfg(), tiny_train_cfg(2), 7).unwrap();
    let fresh = b.checkpoint(false).unwrap().weights();
    assert_ne!(fresh, ck.weights(), "two seeds gave the same init");
    b.init_from(&ck).unwrap();
    assert_eq!(b.step, 0);
    assert_eq!(b.checkpoint(false).unwrap().weights(), ck.weights());
    // and it trains from there
    b.run(1, 1, None, &mut ()).unwrap();
    assert_ne!(b.checkpoint(false).unwrap().weights(), ck.weights());
    // another architecture is refused
    let mut other = small_cfg();
    other.channels += 4;
    let mut c = Trainer::on_reference(&be, &mammoth, &other, tiny_train_cfg(2), 7).unwrap();
    let e = c.init_from(&ck).unwrap_err().to_string();
    assert!(e.contains("--init") && e.contains("architecture"), "{e}");
}

#[test]
fn short_training_lowers_the_loss() {
    training_lowers_the_loss(Geometry::Euclidean);
}

#[test]
fn short_poincare_training_lowers_the_loss() {
    training_lowers_the_loss(Geometry::Poincare);
}

fn training_lowers_the_loss(geometry: Geometry) {
    let Some(g) = common::gpu() else { return };
    let be = Backend::Gpu(g);
    let reference = Reference::load(&asset("phix174.fa")).unwrap();
    let cfg = EncoderConfig {
        k: 16,
        channels: 8,
        kernel: 5,
        blocks: 1,
        embed_dim: 32,
        proj_dim: 16,
        geometry,
        curvature: 1.0,
        learn_curvature: geometry == Geometry::Poincare,
    };
    let mut tc = tiny_train_cfg(40);
    tc.anchors = 32;
    struct Losses(Vec<f64>);
    impl crest::train::Progress for Losses {
        fn report(&mut self, r: &crest::train::StepReport) {
            self.0.push(r.loss);
        }
    }
    let mut t = Trainer::on_reference(&be, &reference, &cfg, tc, 2).unwrap();
    let mut losses = Losses(Vec::new());
    t.run(40, 5, None, &mut losses).unwrap();
    assert_eq!(losses.0.len(), 8);
    let (early, late) = (losses.0[0], losses.0[7]);
    assert!(late < early - 0.2, "{geometry:?}: loss {early} → {late}");
}
