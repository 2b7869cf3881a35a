//! One full training step (batch sampling and upload, one-hot encoding,
//! encoder forward, Γ-weighted contrastive loss, backward, AdamW) on the
//! default architecture (Euclidean and Poincaré heads), reported as views/s (criterion's "elem/s").
//! Run: `cargo bench --bench train_step`.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use crest::backend::Backend;
use crest::gpu::{DeviceChoice, Gpu, Requirements};
use crest::io::Reference;
use crest::model::{EncoderConfig, Geometry};
use crest::train::{TrainConfig, Trainer};

fn bench(c: &mut Criterion) {
    let choice: DeviceChoice = std::env::var("CREST_BENCH_DEVICE")
        .unwrap_or_else(|_| "auto".into())
        .parse()
        .expect("CREST_BENCH_DEVICE");
    let (gpu, _) = Gpu::new(&choice, &Requirements::default()).expect("no adapter for benches");
    let name = gpu.summary.name.clone();
    let be = Backend::Gpu(gpu);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/mammoth_chrM.fa");
    let reference = Reference::load(&path).expect("bundled reference");
    let mut g = c.benchmark_group(format!("train step [{name}]"));
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(2));
    for (anchors, geometry) in [
        (64usize, Geometry::Euclidean),
        (128, Geometry::Euclidean),
        (128, Geometry::Poincare),
    ] {
        let enc = EncoderConfig {
            geometry,
            ..EncoderConfig::default()
        };
        let cfg = TrainConfig {
            anchors,
            steps: 1_000_000,
            ..Default::default()
        };
        let mut t = Trainer::on_reference(&be, &reference, &enc, cfg, 1).expect("trainer");
        g.throughput(Throughput::Elements(2 * anchors as u64));
        g.bench_function(
            format!("{geometry:?} encoder, {} views", 2 * anchors),
            |b| {
                b.iter(|| {
                    t.train_step().unwrap();
                    be.sync().unwrap();
                })
            },
        );
        t.take_loss().unwrap();
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
