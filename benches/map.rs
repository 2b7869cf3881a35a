//! The mapping pipeline on simulated aDNA reads (median 45 bp, deamination
//! 0.3) with the bundled mammoth mtDNA model: k-mer windows → encoder →
//! bit-head and nearest-neighbour proposals → banded verification → SAM
//! records, reported as reads/s (criterion's "elem/s") per batch size.
//! Run: `cargo bench --bench map` (CREST_BENCH_DEVICE picks the adapter).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use crest::backend::Backend;
use crest::gpu::{DeviceChoice, Gpu, Requirements};
use crest::index::{Index, IndexOptions};
use crest::io::{ReadReader, Reference};
use crest::map::{MapConfig, MapStats, Mapper, Propose};
use crest::model::{BitHead, Checkpoint, Encoder};
use crest::sim::{simulate, SimConfig};

fn bench(c: &mut Criterion) {
    let choice: DeviceChoice = std::env::var("CREST_BENCH_DEVICE")
        .unwrap_or_else(|_| "auto".into())
        .parse()
        .expect("CREST_BENCH_DEVICE");
    let (gpu, _) = Gpu::new(&choice, &Requirements::default()).expect("no adapter for benches");
    let name = gpu.summary.name.clone();
    let be = Backend::Gpu(gpu);
    let assets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    let reference = Reference::load(&assets.join("mammoth_chrM.fa")).expect("bundled reference");
    let ck = Checkpoint::load(&assets.join("mammoth_chrM.crest")).expect("bundled model");
    let enc = Encoder::from_values(&be, &ck.meta.encoder, ck.weights()).expect("encoder");
    let head_cfg = ck.meta.head.clone().expect("bundled model has a bit head");
    let head = BitHead::from_values(&be, &head_cfg, ck.weights()).expect("head");
    let cfg = SimConfig {
        n: 1024,
        seed: 3,
        ..SimConfig::default()
    };
    let dir = std::env::temp_dir().join(format!("crest-bench-map-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fq = dir.join("reads.fq");
    let mut w = std::fs::File::create(&fq).unwrap();
    simulate(&reference, &[], &cfg, &mut w).expect("simulate");
    drop(w);
    let mut reads = Vec::new();
    ReadReader::open(&fq)
        .unwrap()
        .next_batch(cfg.n, &mut reads)
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    // the default index holds codes; flat search reads float embeddings
    let index = Index::build(
        &be,
        &ck,
        &enc,
        &reference,
        &IndexOptions::default(),
        &mut |_, _, _| {},
    )
    .expect("index");
    let float_index = Index::build(
        &be,
        &ck,
        &enc,
        &reference,
        &IndexOptions {
            pq: 0,
            ..IndexOptions::default()
        },
        &mut |_, _, _| {},
    )
    .expect("float index");
    let mut g = c.benchmark_group(format!("map mammoth mtDNA [{name}]"));
    g.sample_size(10)
        .measurement_time(Duration::from_secs(15))
        .warm_up_time(Duration::from_secs(2));
    for propose in [Propose::Index, Propose::Flat, Propose::Head] {
        let cfg = MapConfig {
            propose: vec![propose],
            ..MapConfig::default()
        };
        let idx = if propose == Propose::Flat {
            &float_index
        } else {
            &index
        };
        let mapper =
            Mapper::new(&be, &enc, Some(&head), Some(idx), &reference, cfg).expect("mapper");
        for batch in [128usize, 1024] {
            let chunk = &reads[..batch];
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_function(
                format!("--propose {propose:?}, {batch} reads per batch"),
                |b| {
                    b.iter(|| {
                        let mut stats = MapStats::default();
                        mapper.map_batch(chunk, &mut stats).unwrap()
                    })
                },
            );
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
