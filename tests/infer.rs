//! The encoder's inference kernels: direct conv and dense layer against
//! their CPU twins (awkward sizes, poisoned outputs, every flag), and the
//! inference path against the training forward pass (Euclidean, Poincaré).

mod common;

use common::{assert_close, gpu};
use crest::backend::{Backend, Tensor};
use crest::model::{Encoder, EncoderConfig, Geometry};
use crest::ops::conv1d::ConvDims;
use crest::ops::infer::{self, ConvFlags, DenseDims};
use crest::rng::Rng;

#[test]
fn direct_conv_and_dense_match_twin() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(21);
    for &(batch, cin, cout, len, kw) in &[
        (1usize, 4usize, 3usize, 5usize, 3usize),
        (3, 5, 5, 17, 7),
        (65, 32, 32, 32, 7),
        (7, 13, 50, 9, 4),
    ] {
        let d = ConvDims {
            batch,
            cin,
            cout,
            len,
            kw,
        };
        let x = rng.vec_f32(d.x_len(), -1.0, 1.0);
        let w = rng.vec_f32(d.w_len(), -0.5, 0.5);
        let b = rng.vec_f32(cout, -0.2, 0.2);
        let xb = g.upload("x", &x).unwrap();
        let wt = g
            .upload("wt", &infer::conv_weights_t(&w, cout, cin, kw))
            .unwrap();
        let bb = g.upload("b", &infer::conv_bias4(&b)).unwrap();
        for relu in [false, true] {
            for residual in [false, true] {
                if residual && cin != cout {
                    continue;
                }
                for transpose in [false, true] {
                    let flags = ConvFlags {
                        relu,
                        residual,
                        transpose,
                    };
                    let mut want = vec![f32::NAN; d.y_len()];
                    infer::conv_cpu(&d, &x, &w, &b, flags, &mut want).unwrap();
                    let y = g.poisoned("y", d.y_len()).unwrap();
                    infer::conv_gpu(&g, &d, &xb, &wt, &bb, flags, &y).unwrap();
                    let got: Vec<f32> = g.read(&y).unwrap();
                    assert_close(&format!("conv {d:?} {flags:?}"), &got, &want, 1e-4, 1e-5);
                }
            }
        }
    }
    for &(batch, k, n) in &[(1usize, 3usize, 5usize), (67, 130, 36), (130, 64, 33)] {
        let d = DenseDims { batch, k, n };
        let a = rng.vec_f32(k * batch, -1.0, 1.0);
        let w = rng.vec_f32(n * k, -0.5, 0.5);
        let b = rng.vec_f32(n, -0.2, 0.2);
        let (mut y, mut y2) = (vec![f32::NAN; batch * n], vec![f32::NAN; batch * n]);
        infer::dense_cpu(&d, &a, &w, &b, &mut y, Some(&mut y2)).unwrap();
        let yg = g.poisoned("y", batch * n).unwrap();
        let y2g = g.poisoned("y2", batch * n).unwrap();
        let ab = g.upload("a", &a).unwrap();
        let wt = g.upload("wt", &infer::dense_weights_t(&w, n, k)).unwrap();
        let bb = g.upload("b", &infer::bias4(&b)).unwrap();
        infer::dense_gpu(&g, &d, &ab, &wt, &bb, &yg, Some(&y2g)).unwrap();
        assert_close("dense y", &g.read::<f32>(&yg).unwrap(), &y, 1e-4, 1e-5);
        assert_close(
            "dense relu(y)ᵀ",
            &g.read::<f32>(&y2g).unwrap(),
            &y2,
            1e-4,
            1e-5,
        );
        let yg = g.poisoned("y", batch * n).unwrap();
        infer::dense_gpu(&g, &d, &ab, &wt, &bb, &yg, None).unwrap();
        assert_close(
            "dense y alone",
            &g.read::<f32>(&yg).unwrap(),
            &y,
            1e-4,
            1e-5,
        );
    }
}

#[test]
fn inference_path_equals_training_forward() {
    let Some(g) = gpu() else { return };
    let be = Backend::Gpu(g);
    let mut rng = Rng::new(22);
    for geometry in [Geometry::Euclidean, Geometry::Poincare] {
        for blocks in [0usize, 2] {
            let cfg = EncoderConfig {
                k: 19,
                channels: 12,
                kernel: 5,
                blocks,
                embed_dim: 40,
                proj_dim: 24,
                geometry,
                ..Default::default()
            };
            let enc = Encoder::init(&be, &cfg, 7).unwrap();
            let batch = 37;
            let x: Vec<f32> = (0..batch * 4 * cfg.k)
                .map(|_| (rng.below(4) == 0) as u8 as f32)
                .collect();
            let act = enc.forward(&be, be.upload(&x).unwrap(), batch).unwrap();
            let plan = enc.infer_plan(&be).unwrap().expect("plan on a GPU");
            let (e, z) = enc
                .infer(&be, &plan, &be.upload(&x).unwrap(), batch)
                .unwrap();
            let read = |t: &Tensor| be.read(t).unwrap();
            assert_close(
                &format!("e {geometry:?} {blocks}"),
                &read(&e),
                &read(&act.e),
                1e-4,
                1e-5,
            );
            assert_close(
                &format!("z {geometry:?} {blocks}"),
                &read(&z),
                &read(&act.z),
                1e-4,
                1e-5,
            );
        }
    }
}
