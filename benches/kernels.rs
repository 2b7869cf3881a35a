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

criterion_group!(benches, bench_gemm, bench_conv);
criterion_main!(benches);
