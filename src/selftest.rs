//! `crest selftest`: runs every kernel family on the chosen backend, checks
//! it against the CPU twin on a small awkward shape, and times it on a
//! realistic shape (GFLOP/s). A quick way to trust a new driver.

use std::time::Instant;

use crate::backend::{Backend, Tensor};
use crate::error::{CrestError, Result};
use crate::ops::conv1d::{self, ConvDims};
use crate::ops::gemm::{self, GemmDims};
use crate::ops::kmer::{self, KmerDims};
use crate::ops::pool::{self, SegmentDims};
use crate::ops::reduce::{self, RowOp};
use crate::ops::triplet::{self, TripletDims};
use crate::rng::Rng;

/// One line of the self-test report.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SelfTestRow {
    /// Kernel.
    pub op: String,
    /// Shape timed.
    pub shape: String,
    /// Largest relative error against the CPU twin (small shape).
    pub max_rel_err: f64,
    /// Mean seconds per call on the timed shape (wall clock, including sync).
    pub seconds: f64,
    /// GFLOP/s on the timed shape (0 where FLOPs are not meaningful).
    pub gflops: f64,
    /// GB/s of the data each call must at least read and write once
    /// (inputs and outputs; 0 where not counted): against the device's
    /// memory bandwidth.
    pub gbps: f64,
}

fn max_rel_err(got: &[f32], want: &[f32]) -> f64 {
    got.iter()
        .zip(want)
        .map(|(&g, &w)| {
            if !g.is_finite() {
                f64::INFINITY
            } else {
                ((g - w).abs() / (1.0 + w.abs())) as f64
            }
        })
        .fold(0.0, f64::max)
}

fn time(backend: &Backend, reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?; // warm-up (pipeline compilation)
    backend.sync()?;
    let t = Instant::now();
    for _ in 0..reps {
        f()?;
    }
    backend.sync()?;
    Ok(t.elapsed().as_secs_f64() / reps as f64)
}

/// Run the self-test. `scale` 1 = small timed shapes (CPU drivers), larger for GPUs.
pub fn run(backend: &Backend, scale: usize, reps: usize) -> Result<Vec<SelfTestRow>> {
    let mut rng = Rng::new(7);
    let mut rows = Vec::new();
    let up = |v: &[f32]| backend.upload(v);

    // GEMM: check on an awkward shape, time at batch 1024*scale x 256 x 256.
    let d = GemmDims::new(67, 45, 33, false, true);
    let (a, b) = (
        rng.vec_f32(67 * 33, -1.0, 1.0),
        rng.vec_f32(45 * 33, -1.0, 1.0),
    );
    let mut want = vec![0.0; 67 * 45];
    gemm::gemm_cpu(&d, &a, &b, &mut want)?;
    let mut c = backend.zeros(67 * 45)?;
    backend.gemm(&d, &up(&a)?, &up(&b)?, &mut c)?;
    let err = max_rel_err(&backend.read(&c)?, &want);
    let big = GemmDims::new(1024 * scale, 256, 256, false, true);
    let (ta, tb) = (
        up(&rng.vec_f32(big.m * big.k, -1.0, 1.0))?,
        up(&rng.vec_f32(big.n * big.k, -1.0, 1.0))?,
    );
    let mut tc = backend.zeros(big.m * big.n)?;
    let s = time(backend, reps, || backend.gemm(&big, &ta, &tb, &mut tc))?;
    rows.push(SelfTestRow {
        op: "gemm".into(),
        shape: format!("{}x{}x{} (A·Bᵀ)", big.m, big.n, big.k),
        max_rel_err: err,
        seconds: s,
        gflops: big.flops() / s / 1e9,
        gbps: ((big.m * big.k + big.n * big.k + big.m * big.n) * 4) as f64 / s / 1e9,
    });

    // conv1d forward / input grad / weight grad.
    let small = ConvDims {
        batch: 3,
        cin: 5,
        cout: 7,
        len: 19,
        kw: 5,
    };
    let x = rng.vec_f32(small.x_len(), -1.0, 1.0);
    let w = rng.vec_f32(small.w_len(), -1.0, 1.0);
    let dy = rng.vec_f32(small.y_len(), -1.0, 1.0);
    let (gx, gw, gdy) = (up(&x)?, up(&w)?, up(&dy)?);
    let mut want_y = vec![0.0; small.y_len()];
    conv1d::conv1d_forward_cpu(&small, &x, &w, None, &mut want_y)?;
    let mut y = backend.zeros(small.y_len())?;
    backend.conv1d_forward(&small, &gx, &gw, None, &mut y)?;
    let e_fwd = max_rel_err(&backend.read(&y)?, &want_y);
    let mut want_dx = vec![0.0; small.x_len()];
    conv1d::conv1d_input_grad_cpu(&small, &dy, &w, &mut want_dx)?;
    let mut dx = backend.zeros(small.x_len())?;
    backend.conv1d_input_grad(&small, &gdy, &gw, &mut dx)?;
    let e_dx = max_rel_err(&backend.read(&dx)?, &want_dx);
    let mut want_dw = vec![0.0; small.w_len()];
    conv1d::conv1d_weight_grad_cpu(&small, &dy, &x, &mut want_dw)?;
    let mut dw = backend.zeros(small.w_len())?;
    backend.conv1d_weight_grad(&small, &gdy, &gx, &mut dw)?;
    let e_dw = max_rel_err(&backend.read(&dw)?, &want_dw);

    let cd = ConvDims {
        batch: 256 * scale,
        cin: 128,
        cout: 128,
        len: 32,
        kw: 5,
    };
    let bx = up(&rng.vec_f32(cd.x_len(), -1.0, 1.0))?;
    let bw = up(&rng.vec_f32(cd.w_len(), -1.0, 1.0))?;
    let bdy = up(&rng.vec_f32(cd.y_len(), -1.0, 1.0))?;
    let mut by = backend.zeros(cd.y_len())?;
    let mut bdx = backend.zeros(cd.x_len())?;
    let mut bdw = backend.zeros(cd.w_len())?;
    let shape = format!(
        "B{} C{}→{} L{} K{}",
        cd.batch, cd.cin, cd.cout, cd.len, cd.kw
    );
    let conv_bytes = ((cd.x_len() + cd.w_len() + cd.y_len()) * 4) as f64;
    let s = time(backend, reps, || {
        backend.conv1d_forward(&cd, &bx, &bw, None, &mut by)
    })?;
    rows.push(row(
        "conv1d forward",
        &shape,
        e_fwd,
        s,
        cd.flops(),
        conv_bytes,
    ));
    let s = time(backend, reps, || {
        backend.conv1d_input_grad(&cd, &bdy, &bw, &mut bdx)
    })?;
    rows.push(row(
        "conv1d input grad",
        &shape,
        e_dx,
        s,
        cd.flops(),
        conv_bytes,
    ));
    let s = time(backend, reps, || {
        backend.conv1d_weight_grad(&cd, &bdy, &bx, &mut bdw)
    })?;
    rows.push(row(
        "conv1d weight grad",
        &shape,
        e_dw,
        s,
        cd.flops(),
        conv_bytes,
    ));

    // Row ops: softmax and L2 normalise.
    for op in [RowOp::Softmax, RowOp::L2Norm] {
        let (r, c) = (37, 129);
        let x = rng.vec_f32(r * c, -3.0, 3.0);
        let mut want = vec![0.0; r * c];
        reduce::row_op_cpu(op, &x, r, c, reduce::L2_EPS, &mut want)?;
        let mut out = backend.zeros(r * c)?;
        backend.row_op(op, &up(&x)?, r, c, &mut out)?;
        let err = max_rel_err(&backend.read(&out)?, &want);
        let (br, bc) = (4096 * scale, 256);
        let bx: Tensor = up(&rng.vec_f32(br * bc, -3.0, 3.0))?;
        let mut bo = backend.zeros(br * bc)?;
        let s = time(backend, reps, || backend.row_op(op, &bx, br, bc, &mut bo))?;
        rows.push(row(
            &format!("{op:?}"),
            &format!("{br}x{bc}"),
            err,
            s,
            0.0,
            (2 * br * bc * 4) as f64,
        ));
    }
    // k-mer profiles (classification input): 6-mers of 37 sequences, timed
    // on 256·scale sequences of 1 kbp.
    let random_seqs = |rng: &mut Rng, n: usize, len: usize| -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                (0..len + i % 7)
                    .map(|_| match rng.below(50) {
                        0 => b'N',
                        _ => b"ACGT"[rng.below(4) as usize],
                    })
                    .collect()
            })
            .collect()
    };
    let seqs = random_seqs(&mut rng, 37, 300);
    let refs: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();
    let kd = KmerDims { k: 6, seqs: 37 };
    let (codes, offsets) = kmer::pack(&refs);
    let mut want = vec![0.0; 37 * kd.bins()];
    kmer::kmer_profile_cpu(&kd, &codes, &offsets, &mut want)?;
    let mut out = backend.zeros(37 * kd.bins())?;
    backend.kmer_profile(6, &refs, &mut out)?;
    let err = max_rel_err(&backend.read(&out)?, &want);
    let nb = 256 * scale;
    let big = random_seqs(&mut rng, nb, 1000);
    let big_refs: Vec<&[u8]> = big.iter().map(|s| s.as_slice()).collect();
    let mut bo = backend.zeros(nb * kd.bins())?;
    let s = time(backend, reps, || {
        backend.kmer_profile(6, &big_refs, &mut bo)
    })?;
    rows.push(row(
        "kmer profile k=6",
        &format!("{nb} x 1 kbp"),
        err,
        s,
        0.0,
        0.0,
    ));

    // Triplet loss forward + backward.
    let td = TripletDims {
        triplets: 45,
        dim: 33,
        margin: 0.5,
    };
    let e = rng.vec_f32(3 * 45 * 33, -1.0, 1.0);
    let (mut gw, mut lw) = (vec![0.0; e.len()], vec![0.0; 45]);
    triplet::triplet_cpu(&td, &e, &mut gw, &mut lw)?;
    let (mut g, mut l) = (backend.zeros(e.len())?, backend.zeros(45)?);
    backend.triplet(&td, &up(&e)?, &mut g, &mut l)?;
    let err = max_rel_err(&backend.read(&g)?, &gw).max(max_rel_err(&backend.read(&l)?, &lw));
    let bt = TripletDims {
        triplets: 1024 * scale,
        dim: 256,
        margin: 0.5,
    };
    let be_ = up(&rng.vec_f32(3 * bt.triplets * 256, -1.0, 1.0))?;
    let (mut bg, mut bl) = (
        backend.zeros(3 * bt.triplets * 256)?,
        backend.zeros(bt.triplets)?,
    );
    let s = time(backend, reps, || {
        backend.triplet(&bt, &be_, &mut bg, &mut bl)
    })?;
    rows.push(row(
        "triplet loss+grad",
        &format!("{}x256", bt.triplets),
        err,
        s,
        0.0,
        0.0,
    ));

    // Segment mean (window pooling) forward + backward.
    let sizes = [3usize, 0, 1, 40, 7];
    let off = SegmentDims::offsets(sizes);
    let sd = SegmentDims {
        segments: sizes.len(),
        rows: sizes.iter().sum(),
        dim: 37,
    };
    let x = rng.vec_f32(sd.rows * sd.dim, -1.0, 1.0);
    let mut yw = vec![0.0; sd.segments * sd.dim];
    pool::segment_mean_cpu(&sd, &off, &x, &mut yw)?;
    let mut dxw = vec![0.0; x.len()];
    pool::segment_mean_bwd_cpu(&sd, &off, &yw, &mut dxw)?;
    let (mut y, mut dx) = (backend.zeros(yw.len())?, backend.zeros(x.len())?);
    backend.segment_mean(&sd, &off, &up(&x)?, &mut y)?;
    backend.segment_mean_bwd(&sd, &off, &y, &mut dx)?;
    let err = max_rel_err(&backend.read(&y)?, &yw).max(max_rel_err(&backend.read(&dx)?, &dxw));
    let nseg = 1024 * scale;
    let boff = SegmentDims::offsets(vec![32; nseg]);
    let bd = SegmentDims {
        segments: nseg,
        rows: 32 * nseg,
        dim: 128,
    };
    let bx = up(&rng.vec_f32(bd.rows * 128, -1.0, 1.0))?;
    let (mut by, mut bdx) = (backend.zeros(nseg * 128)?, backend.zeros(bd.rows * 128)?);
    let s = time(backend, reps, || {
        backend.segment_mean(&bd, &boff, &bx, &mut by)?;
        backend.segment_mean_bwd(&bd, &boff, &by, &mut bdx)
    })?;
    rows.push(row(
        "segment mean+bwd",
        &format!("{nseg}x32x128"),
        err,
        s,
        0.0,
        (2 * nseg * 32 * 128 * 4) as f64,
    ));

    if let Some(bad) = rows.iter().find(|r| r.max_rel_err > 1e-3) {
        return Err(CrestError::Gpu {
            op: bad.op.clone(),
            message: format!(
                "result differs from the CPU twin (max relative error {:.2e}): the driver may be faulty",
                bad.max_rel_err
            ),
        });
    }
    Ok(rows)
}

fn row(op: &str, shape: &str, err: f64, s: f64, flops: f64, bytes: f64) -> SelfTestRow {
    SelfTestRow {
        gbps: bytes / s / 1e9,
        op: op.into(),
        shape: shape.into(),
        max_rel_err: err,
        seconds: s,
        gflops: flops / s / 1e9,
    }
}
