//! Every GPU op against its CPU twin on fresh random inputs of awkward sizes,
//! with output buffers poisoned first (a skipped element shows up as NaN).

mod common;

use common::{assert_close, gpu};
use crest::gpu::Gpu;
use crest::ops::conv1d::*;
use crest::ops::elementwise::*;
use crest::ops::encode::*;
use crest::ops::gemm::*;
use crest::ops::reduce::*;
use crest::rng::Rng;
use crest::seq::PackedSeq;

const RTOL: f32 = 1e-4;

fn rand(rng: &mut Rng, n: usize) -> Vec<f32> {
    rng.vec_f32(n, -1.0, 1.0)
}

fn check_gemm(g: &Gpu, rng: &mut Rng, d: GemmDims) {
    let a = rand(rng, d.m * d.k);
    let b = rand(rng, d.k * d.n);
    let c0 = rand(rng, d.m * d.n);
    let mut want = c0.clone();
    gemm_cpu(&d, &a, &b, &mut want).unwrap();
    let ga = g.upload("a", &a).unwrap();
    let gb = g.upload("b", &b).unwrap();
    let gc = if d.beta == 0.0 {
        g.poisoned("c", d.m * d.n).unwrap()
    } else {
        g.upload("c", &c0).unwrap()
    };
    gemm_gpu(g, &d, &ga, &gb, &gc).unwrap();
    let got: Vec<f32> = g.read(&gc).unwrap();
    // Sums of k products of magnitude <= 1: scale the tolerance with sqrt(k).
    let atol = 1e-5 * (d.k as f32).sqrt().max(1.0);
    assert_close(&format!("gemm {d:?}"), &got, &want, RTOL, atol);
}

#[test]
fn gemm_matches_twin_all_transposes_awkward_sizes() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(1);
    for &(m, n, k) in &[
        (1, 1, 1),
        (3, 17, 5),
        (65, 63, 17),
        (130, 1, 65),
        (17, 130, 3),
    ] {
        for ta in [false, true] {
            for tb in [false, true] {
                check_gemm(&g, &mut rng, GemmDims::new(m, n, k, ta, tb));
            }
        }
    }
}

#[test]
fn gemm_alpha_beta_and_empty_k() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(2);
    let mut d = GemmDims::new(33, 47, 29, false, true);
    d.alpha = -0.5;
    d.beta = 0.75;
    check_gemm(&g, &mut rng, d);
    let mut d = GemmDims::new(9, 7, 0, false, false);
    d.beta = 2.0;
    check_gemm(&g, &mut rng, d);
}

#[test]
fn gemm_split_k_path() {
    // Small output, long K: several K slices and the split-K reduction.
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(3);
    assert!(choose_splits(1, 3001) > 1);
    check_gemm(&g, &mut rng, GemmDims::new(5, 7, 3001, true, false));
    let mut d = GemmDims::new(3, 66, 2049, false, true);
    d.beta = 1.0;
    check_gemm(&g, &mut rng, d);
}

#[test]
fn gemm_splits_operands_over_binding_limit() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(4);
    g.with_binding_cap(4096, || {
        // 1024 floats per binding. M split (A not transposed) and K split (A transposed, B not).
        check_gemm(&g, &mut rng, GemmDims::new(301, 5, 37, false, false));
        check_gemm(&g, &mut rng, GemmDims::new(301, 5, 37, false, true));
        check_gemm(&g, &mut rng, GemmDims::new(6, 9, 517, true, false));
        // Unsplittable: A transposed and B transposed with A over the cap.
        let d = GemmDims::new(64, 4, 100, true, true);
        let a = g.zeros("a", 6400).unwrap();
        let b = g.zeros("b", 400).unwrap();
        let c = g.zeros("c", 256).unwrap();
        let err = gemm_gpu(&g, &d, &a, &b, &c).unwrap_err().to_string();
        assert!(err.contains("needs") && err.contains("gives"), "{err}");
    });
}

fn conv_case(g: &Gpu, rng: &mut Rng, d: ConvDims, with_bias: bool) {
    let x = rand(rng, d.x_len());
    let w = rand(rng, d.w_len());
    let b = rand(rng, d.cout);
    let dy = rand(rng, d.y_len());
    let atol = 1e-5 * ((d.cin * d.kw).max(d.cout * d.kw).max(d.batch * d.len) as f32).sqrt();
    let (gx, gw, gb, gdy) = (
        g.upload("x", &x).unwrap(),
        g.upload("w", &w).unwrap(),
        g.upload("b", &b).unwrap(),
        g.upload("dy", &dy).unwrap(),
    );
    // forward
    let mut want = vec![0.0; d.y_len()];
    conv1d_forward_cpu(&d, &x, &w, with_bias.then_some(&b[..]), &mut want).unwrap();
    let gy = g.poisoned("y", d.y_len()).unwrap();
    conv1d_forward_gpu(g, &d, &gx, &gw, with_bias.then_some(&gb), &gy).unwrap();
    assert_close(
        &format!("conv fwd {d:?}"),
        &g.read::<f32>(&gy).unwrap(),
        &want,
        RTOL,
        atol,
    );
    // input grad
    let mut want = vec![0.0; d.x_len()];
    conv1d_input_grad_cpu(&d, &dy, &w, &mut want).unwrap();
    let gdx = g.poisoned("dx", d.x_len()).unwrap();
    conv1d_input_grad_gpu(g, &d, &gdy, &gw, &gdx).unwrap();
    assert_close(
        &format!("conv dx {d:?}"),
        &g.read::<f32>(&gdx).unwrap(),
        &want,
        RTOL,
        atol,
    );
    // weight grad
    let mut want = vec![0.0; d.w_len()];
    conv1d_weight_grad_cpu(&d, &dy, &x, &mut want).unwrap();
    let gdw = g.poisoned("dw", d.w_len()).unwrap();
    conv1d_weight_grad_gpu(g, &d, &gdy, &gx, &gdw, 0.0).unwrap();
    assert_close(
        &format!("conv dw {d:?}"),
        &g.read::<f32>(&gdw).unwrap(),
        &want,
        RTOL,
        atol,
    );
    // bias grad
    let mut want = vec![0.0; d.cout];
    conv1d_bias_grad_cpu(&d, &dy, &mut want).unwrap();
    let gdb = g.poisoned("db", d.cout).unwrap();
    conv1d_bias_grad_gpu(g, &d, &gdy, &gdb).unwrap();
    assert_close(
        &format!("conv db {d:?}"),
        &g.read::<f32>(&gdb).unwrap(),
        &want,
        RTOL,
        atol,
    );
}

#[test]
fn conv1d_all_passes_match_twin() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(5);
    for (i, &(batch, cin, cout, len, kw)) in [
        (1, 1, 1, 1, 1),
        (3, 4, 5, 17, 3),
        (2, 3, 65, 7, 2),
        (5, 17, 6, 33, 9),
        (1, 4, 3, 5, 9), // kernel wider than the sequence
        (7, 65, 3, 13, 5),
    ]
    .iter()
    .enumerate()
    {
        conv_case(
            &g,
            &mut rng,
            ConvDims {
                batch,
                cin,
                cout,
                len,
                kw,
            },
            i % 2 == 0,
        );
    }
}

#[test]
fn conv1d_weight_grad_split_k_and_accumulate() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(6);
    // batch*len long, weights small: split-K path.
    let d = ConvDims {
        batch: 67,
        cin: 3,
        cout: 5,
        len: 31,
        kw: 5,
    };
    conv_case(&g, &mut rng, d, true);
    // beta = 1 accumulates into dw.
    let dy = rand(&mut rng, d.y_len());
    let x = rand(&mut rng, d.x_len());
    let prev = rand(&mut rng, d.w_len());
    let mut want = vec![0.0; d.w_len()];
    conv1d_weight_grad_cpu(&d, &dy, &x, &mut want).unwrap();
    for (w, p) in want.iter_mut().zip(&prev) {
        *w += p;
    }
    let gdw = g.upload("dw", &prev).unwrap();
    conv1d_weight_grad_gpu(
        &g,
        &d,
        &g.upload("dy", &dy).unwrap(),
        &g.upload("x", &x).unwrap(),
        &gdw,
        1.0,
    )
    .unwrap();
    assert_close(
        "conv dw accumulate",
        &g.read::<f32>(&gdw).unwrap(),
        &want,
        RTOL,
        1e-3,
    );
}

#[test]
fn conv1d_splits_batch_over_binding_limit() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(7);
    g.with_binding_cap(2048, || {
        conv_case(
            &g,
            &mut rng,
            ConvDims {
                batch: 23,
                cin: 4,
                cout: 3,
                len: 11,
                kw: 3,
            },
            true,
        );
    });
}

#[test]
fn elementwise_ops_match_twin() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(8);
    for &(outer, channels, inner) in &[(1, 1, 1), (3, 17, 1), (5, 7, 13), (2, 65, 3)] {
        let s = ChannelShape {
            outer,
            channels,
            inner,
        };
        let x = rand(&mut rng, s.len());
        let b = rand(&mut rng, channels);
        let dy = rand(&mut rng, s.len());
        let (gx, gb, gdy) = (
            g.upload("x", &x).unwrap(),
            g.upload("b", &b).unwrap(),
            g.upload("dy", &dy).unwrap(),
        );
        let mut want = vec![0.0; s.len()];
        bias_add_cpu(&s, &x, &b, &mut want).unwrap();
        let out = g.poisoned("out", s.len()).unwrap();
        bias_add_gpu(&g, &s, &gx, &gb, &out).unwrap();
        assert_close("bias_add", &g.read::<f32>(&out).unwrap(), &want, 0.0, 0.0);
        relu_cpu(&x, &mut want).unwrap();
        let out = g.poisoned("out", s.len()).unwrap();
        relu_gpu(&g, s.len(), &gx, &out).unwrap();
        assert_close("relu", &g.read::<f32>(&out).unwrap(), &want, 0.0, 0.0);
        relu_bwd_cpu(&x, &dy, &mut want).unwrap();
        let out = g.poisoned("out", s.len()).unwrap();
        relu_bwd_gpu(&g, s.len(), &gx, &gdy, &out).unwrap();
        assert_close("relu_bwd", &g.read::<f32>(&out).unwrap(), &want, 0.0, 0.0);
    }
}

#[test]
fn row_ops_match_twin() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(9);
    for &(rows, cols) in &[(1, 1), (3, 17), (65, 63), (2, 257), (130, 5), (1, 1000)] {
        let x: Vec<f32> = rng.vec_f32(rows * cols, -4.0, 4.0);
        let gx = g.upload("x", &x).unwrap();
        for op in [
            RowOp::Sum,
            RowOp::Max,
            RowOp::LogSumExp,
            RowOp::Softmax,
            RowOp::L2Norm,
        ] {
            let n = if op.is_reduction() { rows } else { rows * cols };
            let mut want = vec![0.0; n];
            row_op_cpu(op, &x, rows, cols, L2_EPS, &mut want).unwrap();
            let out = g.poisoned("out", n).unwrap();
            row_op_gpu(&g, op, &gx, rows, cols, L2_EPS, &out).unwrap();
            let atol = if op == RowOp::Sum {
                1e-5 * cols as f32
            } else {
                1e-6
            };
            assert_close(
                &format!("{op:?} {rows}x{cols}"),
                &g.read::<f32>(&out).unwrap(),
                &want,
                RTOL,
                atol,
            );
        }
        let dy = rand(&mut rng, rows * cols);
        let gdy = g.upload("dy", &dy).unwrap();
        // softmax backward
        let mut y = vec![0.0; rows * cols];
        row_op_cpu(RowOp::Softmax, &x, rows, cols, L2_EPS, &mut y).unwrap();
        let mut want = vec![0.0; rows * cols];
        softmax_bwd_cpu(&y, &dy, rows, cols, &mut want).unwrap();
        let out = g.poisoned("dx", rows * cols).unwrap();
        softmax_bwd_gpu(&g, &g.upload("y", &y).unwrap(), &gdy, rows, cols, &out).unwrap();
        assert_close(
            "softmax_bwd",
            &g.read::<f32>(&out).unwrap(),
            &want,
            RTOL,
            1e-6,
        );
        // l2norm backward
        l2norm_bwd_cpu(&x, &dy, rows, cols, L2_EPS, &mut want).unwrap();
        let out = g.poisoned("dx", rows * cols).unwrap();
        l2norm_bwd_gpu(&g, &gx, &gdy, rows, cols, L2_EPS, &out).unwrap();
        assert_close(
            "l2norm_bwd",
            &g.read::<f32>(&out).unwrap(),
            &want,
            RTOL,
            1e-5,
        );
        // log-sum-exp backward
        let mut lse = vec![0.0; rows];
        row_op_cpu(RowOp::LogSumExp, &x, rows, cols, 0.0, &mut lse).unwrap();
        let gg = rand(&mut rng, rows);
        logsumexp_bwd_cpu(&x, &lse, &gg, rows, cols, &mut want).unwrap();
        let out = g.poisoned("dx", rows * cols).unwrap();
        logsumexp_bwd_gpu(
            &g,
            &gx,
            &g.upload("lse", &lse).unwrap(),
            &g.upload("g", &gg).unwrap(),
            rows,
            cols,
            &out,
        )
        .unwrap();
        assert_close(
            "logsumexp_bwd",
            &g.read::<f32>(&out).unwrap(),
            &want,
            RTOL,
            1e-6,
        );
    }
}

#[test]
fn row_ops_and_channel_sum_split_over_binding_limit() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(10);
    g.with_binding_cap(2048, || {
        let (rows, cols) = (301, 7);
        let x = rand(&mut rng, rows * cols);
        let gx = g.upload("x", &x).unwrap();
        for op in [RowOp::LogSumExp, RowOp::Softmax] {
            let n = if op.is_reduction() { rows } else { rows * cols };
            let mut want = vec![0.0; n];
            row_op_cpu(op, &x, rows, cols, L2_EPS, &mut want).unwrap();
            let out = g.poisoned("out", n).unwrap();
            row_op_gpu(&g, op, &gx, rows, cols, L2_EPS, &out).unwrap();
            assert_close(
                &format!("{op:?} split"),
                &g.read::<f32>(&out).unwrap(),
                &want,
                RTOL,
                1e-6,
            );
        }
        let (outer, ch, inner) = (77, 3, 5);
        let x = rand(&mut rng, outer * ch * inner);
        let mut want = vec![0.0; ch];
        channel_sum_cpu(&x, outer, ch, inner, &mut want).unwrap();
        let out = g.poisoned("out", ch).unwrap();
        channel_sum_gpu(&g, &g.upload("x", &x).unwrap(), outer, ch, inner, &out).unwrap();
        assert_close(
            "channel_sum split",
            &g.read::<f32>(&out).unwrap(),
            &want,
            RTOL,
            1e-4,
        );
    });
}

fn random_dna(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| b"ACGTACGTACGTACGTN"[rng.below(17) as usize])
        .collect()
}

#[test]
fn onehot_windows_match_twin() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(11);
    let seq = PackedSeq::from_ascii(&random_dna(&mut rng, 1001));
    let gs = GpuSeq::upload(&g, &seq).unwrap();
    for &k in &[1usize, 17, 32, 63] {
        let mut windows = Vec::new();
        for i in 0..131 {
            let len = if i % 5 == 0 {
                rng.below(k as u64) as u32
            } else {
                k as u32
            }; // short reads too
            let start = rng.below((1001 - k) as u64) as u32;
            windows.push(Window::new(start, len, i % 2 == 1));
        }
        let mut want = vec![0.0; windows.len() * 4 * k];
        onehot_windows_cpu(&seq, &windows, k, &mut want).unwrap();
        let gw = g
            .upload("windows", bytemuck::cast_slice::<Window, u32>(&windows))
            .unwrap();
        let out = g.poisoned("onehot", want.len()).unwrap();
        onehot_windows_gpu(&g, &gs, &gw, windows.len(), k, &out).unwrap();
        assert_close(
            &format!("onehot k={k}"),
            &g.read::<f32>(&out).unwrap(),
            &want,
            0.0,
            0.0,
        );
    }
}

#[test]
fn onehot_known_values_and_revcomp() {
    // ACGTN forward and reverse: checks the encoding itself, not just the twin.
    let seq = PackedSeq::from_ascii(b"ACGTN");
    let mut out = vec![0.0; 2 * 4 * 6];
    let w = [Window::new(0, 5, false), Window::new(0, 5, true)];
    onehot_windows_cpu(&seq, &w, 6, &mut out).unwrap();
    let argmax = |win: usize, j: usize| (0..4).find(|&c| out[win * 24 + c * 6 + j] == 1.0);
    let fwd: Vec<_> = (0..6).map(|j| argmax(0, j)).collect();
    assert_eq!(fwd, vec![Some(0), Some(1), Some(2), Some(3), None, None]);
    // reverse complement of ACGTN is NACGT
    let rev: Vec<_> = (0..6).map(|j| argmax(1, j)).collect();
    assert_eq!(rev, vec![None, Some(0), Some(1), Some(2), Some(3), None]);

    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(12);
    for &n in &[1usize, 15, 16, 17, 33, 1000] {
        let s = PackedSeq::from_ascii(&random_dna(&mut rng, n));
        let want = revcomp_packed_cpu(&s);
        assert_eq!(
            want.to_ascii(),
            crest::seq::reverse_complement(&s.to_ascii())
        );
        let got = revcomp_packed_gpu(&g, &GpuSeq::upload(&g, &s).unwrap())
            .unwrap()
            .download(&g)
            .unwrap();
        assert_eq!(got, want, "revcomp n={n}");
    }
}

#[test]
fn over_limit_allocation_is_an_error_not_a_panic() {
    let Some(g) = gpu() else { return };
    let too_big = (g.limits.max_buffer_size / 4 + 1) as usize;
    let err = g.zeros("huge", too_big).unwrap_err().to_string();
    assert!(err.contains("needs") && err.contains("gives"), "{err}");
}

/// Rows longer than one invocation may loop over on llvmpipe (65,535
/// iterations summed over all loops): 32,768-column rows, as flat search
/// uses, lost their last ~1,200 columns when the serial kernel took them.
#[test]
fn topk_of_long_rows_sees_every_column() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(14);
    let (rows, cols, k) = (300usize, 40_000usize, 10usize);
    let mut x: Vec<f32> = (0..rows * cols).map(|_| rng.uniform() as f32).collect();
    // each row's maximum sits in its last 10,000 columns; row 0 ascends
    // (the serial kernel's worst case)
    for r in 0..rows {
        x[r * cols + cols - 1 - (r * 37) % 10_000] = 2.0;
    }
    for (j, v) in x[..cols].iter_mut().enumerate() {
        *v = j as f32;
    }
    let want = topk_cpu(&x, rows, cols, k).unwrap();
    let gx = g.upload("x", &x).unwrap();
    let out = g.poisoned("topk", rows * k * 2).unwrap();
    topk_gpu(&g, &gx, rows, cols, k, &out).unwrap();
    assert_eq!(decode_topk(&g.read::<u32>(&out).unwrap()), want);
    // the serial kernel refuses rows it could not finish
    let err = topk_gpu_with(&g, &gx, rows, cols, k, &out, true).unwrap_err();
    assert!(err.to_string().contains("loop iterations"), "{err}");
    assert!(topk_loop_trips(cols, k, false) <= crest::ops::LOOP_BUDGET);
}

#[test]
fn topk_both_kernels_match_twin_with_ties() {
    let Some(g) = gpu() else { return };
    let mut rng = Rng::new(13);
    for &(rows, cols, k) in &[
        (1usize, 1usize, 1usize),
        (3, 17, 5),
        (300, 65, 10),
        (257, 2093, 16),
        (5, 1000, 32),
    ] {
        // Coarse values so that ties occur: order is value desc, then column asc.
        let x: Vec<f32> = (0..rows * cols)
            .map(|_| (rng.below(50) as f32) / 7.0)
            .collect();
        let want = topk_cpu(&x, rows, cols, k).unwrap();
        let gx = g.upload("x", &x).unwrap();
        for serial in [false, true] {
            let out = g.poisoned("topk", rows * k * 2).unwrap();
            topk_gpu_with(&g, &gx, rows, cols, k, &out, serial).unwrap();
            let got = decode_topk(&g.read::<u32>(&out).unwrap());
            assert_eq!(
                got, want,
                "topk rows {rows} cols {cols} k {k} serial {serial}"
            );
        }
    }
}
