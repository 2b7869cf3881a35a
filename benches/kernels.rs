//! Kernel throughput: GEMM and conv1d (forward, input grad, weight grad) at
//! realistic encoder sizes, reported as FLOP/s (criterion's "elem/s" = FLOP/s).
//!
//! Sizes follow the adapter: batch 8192 k-mers x 256 channels on a GPU;
//! batch 1024 x 64-128 channels on a CPU adapter (lavapipe), where the full
//! sizes take seconds per call. CREST_BENCH_FULL=1 forces the GPU sizes.
//! Run: `cargo bench --bench kernels` (WGPU_ADAPTER_NAME / --device rules apply
//! through CREST_BENCH_DEVICE=auto|gpu|cpu|N).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

use crest::gpu::{DeviceChoice, Gpu, Requirements};
use crest::ops::conv1d::*;
use crest::ops::gemm::*;
use crest::rng::Rng;

fn device() -> std::sync::Arc<Gpu> {
    let choice: DeviceChoice = std::env::var("CREST_BENCH_DEVICE")
        .unwrap_or_else(|_| "auto".into())
        .parse()
        .expect("CREST_BENCH_DEVICE");
    let (gpu, _) = Gpu::new(&choice, &Requirements::default()).expect("no adapter for benches");
    eprintln!(
        "adapter: {} ({}, {})",
        gpu.summary.name, gpu.summary.backend, gpu.summary.device_type
    );
    gpu
}

fn full_size(gpu: &Gpu) -> bool {
    std::env::var("CREST_BENCH_FULL").is_ok() || gpu.summary.device_type != "Cpu"
}

fn bench_gemm(c: &mut Criterion) {
    let gpu = device();
    let mut rng = Rng::new(1);
    let mut g = c.benchmark_group(format!("gemm [{}]", gpu.summary.name));
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    let shapes: &[(usize, usize, usize)] = if full_size(&gpu) {
        &[(8192, 256, 256), (8192, 256, 1024), (4096, 4096, 4096)]
    } else {
        &[(1024, 64, 64), (1024, 256, 256)]
    };
    for &(m, n, k) in shapes {
        // Linear layer forward: activations [m, k] · weightsᵀ [n, k].
        for (label, d) in [
            ("fwd A·Bᵀ", GemmDims::new(m, n, k, false, true)),
            ("wgrad Aᵀ·B", GemmDims::new(k, n, m, true, false)),
        ] {
            let a = gpu.upload("a", &rng.vec_f32(d.m * d.k, -1.0, 1.0)).unwrap();
            let b = gpu.upload("b", &rng.vec_f32(d.k * d.n, -1.0, 1.0)).unwrap();
            let out = gpu.zeros("c", d.m * d.n).unwrap();
            g.throughput(Throughput::Elements(d.flops() as u64));
            g.bench_function(
                BenchmarkId::new(label, format!("{}x{}x{}", d.m, d.n, d.k)),
                |bch| {
                    bch.iter(|| {
                        gemm_gpu(&gpu, &d, &a, &b, &out).unwrap();
                        gpu.sync().unwrap();
                    })
                },
            );
        }
    }
    g.finish();
}

fn bench_conv(c: &mut Criterion) {
    let gpu = device();
    let mut rng = Rng::new(2);
    let mut g = c.benchmark_group(format!("conv1d [{}]", gpu.summary.name));
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    let shapes: Vec<ConvDims> = if full_size(&gpu) {
        vec![
            ConvDims {
                batch: 8192,
                cin: 64,
                cout: 64,
                len: 32,
                kw: 9,
            },
            ConvDims {
                batch: 8192,
                cin: 256,
                cout: 256,
                len: 32,
                kw: 5,
            },
        ]
    } else {
        vec![
            ConvDims {
                batch: 1024,
                cin: 64,
                cout: 64,
                len: 32,
                kw: 9,
            },
            ConvDims {
                batch: 1024,
                cin: 128,
                cout: 128,
                len: 32,
                kw: 5,
            },
        ]
    };
    for d in shapes {
        let x = gpu.upload("x", &rng.vec_f32(d.x_len(), -1.0, 1.0)).unwrap();
        let w = gpu.upload("w", &rng.vec_f32(d.w_len(), -1.0, 1.0)).unwrap();
        let bias = gpu.upload("b", &rng.vec_f32(d.cout, -1.0, 1.0)).unwrap();
        let dy = gpu
            .upload("dy", &rng.vec_f32(d.y_len(), -1.0, 1.0))
            .unwrap();
        let y = gpu.zeros("y", d.y_len()).unwrap();
        let dx = gpu.zeros("dx", d.x_len()).unwrap();
        let dw = gpu.zeros("dw", d.w_len()).unwrap();
        let name = format!("B{} C{}→{} L{} K{}", d.batch, d.cin, d.cout, d.len, d.kw);
        g.throughput(Throughput::Elements(d.flops() as u64));
        g.bench_function(BenchmarkId::new("forward", &name), |b| {
            b.iter(|| {
                conv1d_forward_gpu(&gpu, &d, &x, &w, Some(&bias), &y).unwrap();
                gpu.sync().unwrap();
            })
        });
        g.bench_function(BenchmarkId::new("input grad", &name), |b| {
            b.iter(|| {
                conv1d_input_grad_gpu(&gpu, &d, &dy, &w, &dx).unwrap();
                gpu.sync().unwrap();
            })
        });
        g.bench_function(BenchmarkId::new("weight grad", &name), |b| {
            b.iter(|| {
                conv1d_weight_grad_gpu(&gpu, &d, &dy, &x, &dw, 0.0).unwrap();
                gpu.sync().unwrap();
            })
        });
    }
    g.finish();
}

/// Index search kernels at the shape of an E. coli index (dim 128, leaves of
/// ~198 slots with one spilled copy, branch 16, beam 32, 16 results):
/// `leaf_scan` over one binding's worth of slots, throughput in query–slot
/// pairs scored; `beam_step` at the last level, in children scored.
fn bench_index(c: &mut Criterion) {
    use crest::ops::index::*;
    let gpu = device();
    let mut rng = Rng::new(3);
    let mut g = c.benchmark_group(format!("index [{}]", gpu.summary.name));
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1));
    let (dim, leaf, width, m, branch) = (128usize, 198usize, 32usize, 16usize, 16usize);
    let nq = if full_size(&gpu) { 16_384 } else { 512 };
    let slots = (gpu.binding_cap() as usize / (4 * dim)).min(262_144) / leaf * leaf;
    let leaves = slots / leaf;
    let unit = |rng: &mut Rng, n: usize| -> Vec<f32> {
        let mut v = rng.vec_f32(n * dim, -1.0, 1.0);
        for r in v.chunks_mut(dim) {
            let s = r.iter().map(|x| x * x).sum::<f32>().sqrt();
            r.iter_mut().for_each(|x| *x /= s);
        }
        v
    };
    let data = gpu
        .upload("data", &to_blocked(&unit(&mut rng, slots), dim))
        .unwrap();
    let queries = unit(&mut rng, nq);
    let qpad = gpu.upload("q", &pad_queries(&queries, dim)).unwrap();
    let mut op: Vec<u32> = (0..=leaves as u32).map(|l| l * leaf as u32).collect();
    op.extend(0..slots as u32);
    let op = gpu.upload("offsets+perm", &op).unwrap();
    // distinct leaves per query, spread over the buffer
    let chosen: Vec<u32> = (0..nq * width)
        .map(|i| ((i / width) * 97 + (i % width) * 41) as u32 % leaves as u32)
        .collect();
    let chosen = gpu.upload("leaves", &chosen).unwrap();
    let curv = gpu.upload("c", &[1.0f32]).unwrap();
    let out_s = gpu.zeros("s", nq * m).unwrap();
    let out_i = gpu.zeros("i", nq * m).unwrap();
    let out = Ranked {
        scores: &out_s,
        ids: &out_i,
    };
    let d = LeafDims {
        queries: nq,
        dim,
        width,
        m,
        leaves,
        base: 0,
        slot0: 0,
        slot1: slots,
        first: true,
    };
    g.throughput(Throughput::Elements((nq * width * leaf) as u64));
    g.bench_function(
        BenchmarkId::new(
            "leaf_scan pairs",
            format!("{nq}q W{width} leaf{leaf} d{dim}"),
        ),
        |b| {
            b.iter(|| {
                let inp = LeafInputs {
                    queries: &qpad,
                    data: &data,
                    leaves: &chosen,
                    offsets_perm: &op,
                };
                leaf_scan_gpu(&gpu, &d, inp, Metric::Cosine, &curv, out).unwrap();
                gpu.sync().unwrap();
            })
        },
    );
    // the same scan in the windowed layout (CPU adapters): plan + kernel
    {
        use crest::ops::window_scan::*;
        let rows_host = unit(&mut Rng::new(4), slots);
        let wdata = gpu.upload("wdata", &to_windows(&rows_host, dim)).unwrap();
        let perm: Vec<u32> = (0..slots as u32).collect();
        let wids = gpu.upload("wids", &ids_windows(&perm)).unwrap();
        let offsets: Vec<u32> = (0..=leaves as u32).map(|l| l * leaf as u32).collect();
        let chosen_host: Vec<u32> = (0..nq * width)
            .map(|i| ((i / width) * 97 + (i % width) * 41) as u32 % leaves as u32)
            .collect();
        let wd = WindowDims {
            queries: nq,
            dim,
            m,
            rows: RowCode::F32,
        };
        g.throughput(Throughput::Elements((nq * width * leaf) as u64));
        g.bench_function(
            BenchmarkId::new(
                "window_scan pairs",
                format!("{nq}q W{width} leaf{leaf} d{dim}"),
            ),
            |b| {
                b.iter(|| {
                    let plan = WindowPlan::new(
                        &chosen_host,
                        width,
                        nq,
                        &offsets,
                        (0, slots),
                        window_rows(dim),
                    )
                    .unwrap();
                    let inp = ScanInputs {
                        queries: &qpad,
                        data: GpuRows::F32(&wdata),
                        ids: &wids,
                    };
                    window_scan_gpu(&gpu, &wd, &plan, inp, Metric::Cosine, &curv, out).unwrap();
                    gpu.sync().unwrap();
                })
            },
        );
        // the same rows as 16 product-quantization codes each (the index's
        // default), decoded from the codebook while scored
        let pm = 16;
        let codes: Vec<u8> = (0..slots * pm).map(|i| (i * 37 % 251) as u8).collect();
        let wcodes = gpu.upload("wcodes", &codes_to_windows(&codes, pm)).unwrap();
        // [16][256][dim / 16] floats: 256 rows of dim
        let book = gpu
            .upload("codebook", &pad_codebook(&unit(&mut Rng::new(5), 256)))
            .unwrap();
        let pd = WindowDims {
            rows: RowCode::Pq(pm),
            ..wd
        };
        g.bench_function(
            BenchmarkId::new(
                "window_scan pairs (PQ16 codes)",
                format!("{nq}q W{width} leaf{leaf} d{dim}"),
            ),
            |b| {
                b.iter(|| {
                    let plan = WindowPlan::new(
                        &chosen_host,
                        width,
                        nq,
                        &offsets,
                        (0, slots),
                        RowCode::Pq(pm).window_rows(dim),
                    )
                    .unwrap();
                    let inp = ScanInputs {
                        queries: &qpad,
                        data: GpuRows::Pq {
                            codes: &wcodes,
                            codebook: &book,
                        },
                        ids: &wids,
                    };
                    window_scan_gpu(&gpu, &pd, &plan, inp, Metric::Cosine, &curv, out).unwrap();
                    gpu.sync().unwrap();
                })
            },
        );
    }
    // last beam level: W nodes of the level above (of 256) → best W of W·B
    let cent = gpu
        .upload("cent", &pad_rows(&unit(&mut rng, 4096), dim))
        .unwrap();
    let beam_in: Vec<u32> = (0..nq * width)
        .map(|i| ((i / width) * 7 + (i % width) * 5) as u32 % 256)
        .collect();
    let beam_in = gpu.upload("beam", &beam_in).unwrap();
    let sizes: Vec<u32> = (0..=4096u32).map(|l| l * 10).collect();
    let sizes = gpu.upload("offsets", &sizes).unwrap();
    let q = gpu.upload("q", &queries).unwrap();
    let bs = gpu.zeros("s", nq * width).unwrap();
    let bi = gpu.zeros("i", nq * width).unwrap();
    let bd = BeamDims {
        queries: nq,
        dim,
        branch,
        width_in: width,
        width_out: width,
        span: 1,
    };
    g.throughput(Throughput::Elements((nq * width * branch) as u64));
    g.bench_function(
        BenchmarkId::new(
            "beam_step children",
            format!("{nq}q W{width} B{branch} d{dim}"),
        ),
        |b| {
            b.iter(|| {
                let inp = BeamInputs {
                    queries: &q,
                    centroids: &cent,
                    beam_in: &beam_in,
                    leaf_offsets: &sizes,
                };
                let out = Ranked {
                    scores: &bs,
                    ids: &bi,
                };
                beam_step_gpu(&gpu, &bd, inp, Metric::Cosine, &curv, out).unwrap();
                gpu.sync().unwrap();
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench_gemm, bench_conv, bench_index);
criterion_main!(benches);
