//! Every backward op against central finite differences of its forward op,
//! in f64 on the CPU twins; and the GPU backward kernels against the same
//! finite differences (f32 tolerance).

mod common;

use common::{assert_grad, dot, fd, rand64};

use crest::ops::conv1d::*;
use crest::ops::elementwise::*;
use crest::ops::gemm::*;
use crest::ops::reduce::*;
use crest::rng::Rng;

#[test]
fn gemm_backward_matches_finite_differences() {
    let mut rng = Rng::new(21);
    for ta in [false, true] {
        for tb in [false, true] {
            let d = GemmDims::new(3, 5, 4, ta, tb);
            let a = rand64(&mut rng, d.m * d.k);
            let b = rand64(&mut rng, d.k * d.n);
            let dc = rand64(&mut rng, d.m * d.n);
            let loss = |a: &[f64], b: &[f64]| {
                let mut c = vec![0.0; d.m * d.n];
                gemm_cpu(&d, a, b, &mut c).unwrap();
                dot(&c, &dc)
            };
            let (da, db) = gemm_backward_cpu(&d, &a, &b, &dc).unwrap();
            assert_grad("gemm dA", &da, &fd(&a, |a| loss(a, &b)), 1e-6);
            assert_grad("gemm dB", &db, &fd(&b, |b| loss(&a, b)), 1e-6);
        }
    }
}

#[test]
fn conv1d_backward_matches_finite_differences() {
    let mut rng = Rng::new(22);
    for kw in [1, 2, 3, 5] {
        let d = ConvDims {
            batch: 2,
            cin: 3,
            cout: 2,
            len: 6,
            kw,
        };
        let x = rand64(&mut rng, d.x_len());
        let w = rand64(&mut rng, d.w_len());
        let b = rand64(&mut rng, d.cout);
        let dy = rand64(&mut rng, d.y_len());
        let loss = |x: &[f64], w: &[f64], b: &[f64]| {
            let mut y = vec![0.0; d.y_len()];
            conv1d_forward_cpu(&d, x, w, Some(b), &mut y).unwrap();
            dot(&y, &dy)
        };
        let mut dx = vec![0.0; d.x_len()];
        conv1d_input_grad_cpu(&d, &dy, &w, &mut dx).unwrap();
        assert_grad("conv dx", &dx, &fd(&x, |x| loss(x, &w, &b)), 1e-6);
        let mut dw = vec![0.0; d.w_len()];
        conv1d_weight_grad_cpu(&d, &dy, &x, &mut dw).unwrap();
        assert_grad("conv dw", &dw, &fd(&w, |w| loss(&x, w, &b)), 1e-6);
        let mut db = vec![0.0; d.cout];
        conv1d_bias_grad_cpu(&d, &dy, &mut db).unwrap();
        assert_grad("conv db", &db, &fd(&b, |b| loss(&x, &w, b)), 1e-6);
    }
}

#[test]
fn bias_add_and_relu_backward_match_finite_differences() {
    let mut rng = Rng::new(23);
    let s = ChannelShape {
        outer: 3,
        channels: 4,
        inner: 5,
    };
    let x = rand64(&mut rng, s.len());
    let bias = rand64(&mut rng, 4);
    let dy = rand64(&mut rng, s.len());
    let loss_b = |b: &[f64]| {
        let mut y = vec![0.0; s.len()];
        bias_add_cpu(&s, &x, b, &mut y).unwrap();
        dot(&y, &dy)
    };
    let mut db = vec![0.0; 4];
    channel_sum_cpu(&dy, s.outer, s.channels, s.inner, &mut db).unwrap();
    assert_grad("bias grad", &db, &fd(&bias, loss_b), 1e-6);
    // ReLU: keep inputs away from the kink.
    let x: Vec<f64> = x
        .iter()
        .map(|v| if v.abs() < 0.01 { 0.5 } else { *v })
        .collect();
    let loss_r = |x: &[f64]| {
        let mut y = vec![0.0; x.len()];
        relu_cpu(x, &mut y).unwrap();
        dot(&y, &dy)
    };
    let mut dx = vec![0.0; x.len()];
    relu_bwd_cpu(&x, &dy, &mut dx).unwrap();
    assert_grad("relu", &dx, &fd(&x, loss_r), 1e-6);
}

#[test]
fn row_op_backwards_match_finite_differences() {
    let mut rng = Rng::new(24);
    let (rows, cols) = (3, 7);
    let x: Vec<f64> = (0..rows * cols)
        .map(|_| rng.uniform() * 6.0 - 3.0)
        .collect();
    let dy = rand64(&mut rng, rows * cols);
    let g = rand64(&mut rng, rows);
    let mut dx = vec![0.0; rows * cols];

    let softmax_loss = |x: &[f64]| {
        let mut y = vec![0.0; rows * cols];
        row_op_cpu(RowOp::Softmax, x, rows, cols, 0.0, &mut y).unwrap();
        dot(&y, &dy)
    };
    let mut y = vec![0.0; rows * cols];
    row_op_cpu(RowOp::Softmax, &x, rows, cols, 0.0, &mut y).unwrap();
    softmax_bwd_cpu(&y, &dy, rows, cols, &mut dx).unwrap();
    assert_grad("softmax", &dx, &fd(&x, softmax_loss), 1e-6);

    let l2_loss = |x: &[f64]| {
        let mut y = vec![0.0; rows * cols];
        row_op_cpu(RowOp::L2Norm, x, rows, cols, L2_EPS, &mut y).unwrap();
        dot(&y, &dy)
    };
    l2norm_bwd_cpu(&x, &dy, rows, cols, L2_EPS, &mut dx).unwrap();
    assert_grad("l2norm", &dx, &fd(&x, l2_loss), 1e-6);

    let lse_loss = |x: &[f64]| {
        let mut l = vec![0.0; rows];
        row_op_cpu(RowOp::LogSumExp, x, rows, cols, 0.0, &mut l).unwrap();
        dot(&l, &g)
    };
    let mut lse = vec![0.0; rows];
    row_op_cpu(RowOp::LogSumExp, &x, rows, cols, 0.0, &mut lse).unwrap();
    logsumexp_bwd_cpu(&x, &lse, &g, rows, cols, &mut dx).unwrap();
    assert_grad("logsumexp", &dx, &fd(&x, lse_loss), 1e-6);
}

/// The GPU backward kernels against finite differences of the f64 forward twin.
#[test]
fn gpu_backward_kernels_match_finite_differences() {
    let Some(gpu) = common::gpu() else { return };
    let mut rng = Rng::new(25);
    let f32s = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
    let f64s = |v: Vec<f32>| v.into_iter().map(|x| x as f64).collect::<Vec<f64>>();
    // Round inputs to f32 first so that both sides see the same numbers.
    let round = |v: Vec<f64>| v.iter().map(|&x| x as f32 as f64).collect::<Vec<f64>>();

    // conv1d
    let d = ConvDims {
        batch: 3,
        cin: 5,
        cout: 4,
        len: 9,
        kw: 3,
    };
    let x = round(rand64(&mut rng, d.x_len()));
    let w = round(rand64(&mut rng, d.w_len()));
    let dy = round(rand64(&mut rng, d.y_len()));
    let loss = |x: &[f64], w: &[f64]| {
        let mut y = vec![0.0; d.y_len()];
        conv1d_forward_cpu(&d, x, w, None, &mut y).unwrap();
        dot(&y, &dy)
    };
    let (gx, gw, gdy) = (
        gpu.upload("x", &f32s(&x)).unwrap(),
        gpu.upload("w", &f32s(&w)).unwrap(),
        gpu.upload("dy", &f32s(&dy)).unwrap(),
    );
    let gdx = gpu.poisoned("dx", d.x_len()).unwrap();
    conv1d_input_grad_gpu(&gpu, &d, &gdy, &gw, &gdx).unwrap();
    assert_grad(
        "gpu conv dx",
        &f64s(gpu.read(&gdx).unwrap()),
        &fd(&x, |x| loss(x, &w)),
        1e-4,
    );
    let gdw = gpu.poisoned("dw", d.w_len()).unwrap();
    conv1d_weight_grad_gpu(&gpu, &d, &gdy, &gx, &gdw, 0.0).unwrap();
    assert_grad(
        "gpu conv dw",
        &f64s(gpu.read(&gdw).unwrap()),
        &fd(&w, |w| loss(&x, w)),
        1e-4,
    );

    // gemm (A transposed, as in a weight gradient)
    let gd = GemmDims::new(5, 6, 7, true, false);
    let a = round(rand64(&mut rng, 35));
    let b = round(rand64(&mut rng, 42));
    let dc = round(rand64(&mut rng, 30));
    let gloss = |a: &[f64], b: &[f64]| {
        let mut c = vec![0.0; 30];
        gemm_cpu(&gd, a, b, &mut c).unwrap();
        dot(&c, &dc)
    };
    let (ga, gb, gdc) = (
        gpu.upload("a", &f32s(&a)).unwrap(),
        gpu.upload("b", &f32s(&b)).unwrap(),
        gpu.upload("dc", &f32s(&dc)).unwrap(),
    );
    let (gda, gdb) = (
        gpu.poisoned("da", 35).unwrap(),
        gpu.poisoned("db", 42).unwrap(),
    );
    gemm_backward_gpu(&gpu, &gd, &ga, &gb, &gdc, &gda, &gdb).unwrap();
    assert_grad(
        "gpu gemm dA",
        &f64s(gpu.read(&gda).unwrap()),
        &fd(&a, |a| gloss(a, &b)),
        1e-4,
    );
    assert_grad(
        "gpu gemm dB",
        &f64s(gpu.read(&gdb).unwrap()),
        &fd(&b, |b| gloss(&a, b)),
        1e-4,
    );

    // row ops
    let (rows, cols) = (4, 11);
    let x = round(
        (0..rows * cols)
            .map(|_| rng.uniform() * 4.0 - 2.0)
            .collect(),
    );
    let dy = round(rand64(&mut rng, rows * cols));
    let gx = gpu.upload("x", &f32s(&x)).unwrap();
    let gdy = gpu.upload("dy", &f32s(&dy)).unwrap();
    let out = gpu.poisoned("dx", rows * cols).unwrap();
    l2norm_bwd_gpu(&gpu, &gx, &gdy, rows, cols, L2_EPS, &out).unwrap();
    let l2_loss = |x: &[f64]| {
        let mut y = vec![0.0; rows * cols];
        row_op_cpu(RowOp::L2Norm, x, rows, cols, L2_EPS, &mut y).unwrap();
        dot(&y, &dy)
    };
    assert_grad(
        "gpu l2norm",
        &f64s(gpu.read(&out).unwrap()),
        &fd(&x, l2_loss),
        1e-4,
    );
    let mut y = vec![0.0f32; rows * cols];
    row_op_cpu(RowOp::Softmax, &f32s(&x), rows, cols, 0.0, &mut y).unwrap();
    softmax_bwd_gpu(&gpu, &gpu.upload("y", &y).unwrap(), &gdy, rows, cols, &out).unwrap();
    let sm_loss = |x: &[f64]| {
        let mut y = vec![0.0; rows * cols];
        row_op_cpu(RowOp::Softmax, x, rows, cols, 0.0, &mut y).unwrap();
        dot(&y, &dy)
    };
    assert_grad(
        "gpu softmax",
        &f64s(gpu.read(&out).unwrap()),
        &fd(&x, sm_loss),
        1e-4,
    );
}
