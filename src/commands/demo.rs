//! `crest demo`: a few minutes on the bundled data, start to finish — the
//! kernel self-test; a short training run on the bundled mammoth
//! mitochondrial genome with the neighbour recall of damaged, ancient-DNA-like
//! query k-mers; then simulated aDNA reads mapped with the bundled model and
//! benchmarked against BWA-aln (when `bwa` is installed).

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::backend::Backend;
use crate::error::Result;

/// Options of `crest demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Directory with the bundled data (assets/ of the crest checkout).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/assets"))]
    pub assets: PathBuf,
    /// Training steps of the short run (0 skips it) (0 to 100000000).
    #[arg(long, default_value_t = 200, value_parser = crate::commands::parse::u64_in(0, crate::commands::parse::MAX_STEPS))]
    pub steps: u64,
    /// Anchors per training step of the short run (2 views each; `crest
    /// train` uses 128, the demo fewer so that it fits minutes on a CPU) (1 to 65536).
    #[arg(long, default_value_t = 32, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_TRAIN_BATCH))]
    pub batch: usize,
    /// Where to write the demo model.
    #[arg(long, default_value = "crest-demo.crest")]
    pub out: PathBuf,
    /// Simulated reads for the mapping benchmark (1 to 1000000000).
    #[arg(long, default_value_t = 1500, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_READS))]
    pub reads: usize,
    /// Where to draw the precision–recall plot.
    #[arg(long, default_value = "crest-demo-pr.svg")]
    pub plot: PathBuf,
}

/// Run the demo (`device`: the global --device value, passed to `crest map`).
pub fn demo(be: &Backend, device: &str, a: &DemoArgs) -> Result<()> {
    let t_start = Instant::now();
    let mut t = Instant::now();
    let mut lap = |what: &str| {
        eprintln!("   ({what}: {:.0}s)", t.elapsed().as_secs_f64());
        t = Instant::now();
    };
    // outputs written at the end are checked now
    crate::io::output::refuse_collisions(&[
        ("--out", Some(a.out.as_path())),
        ("--plot", Some(a.plot.as_path())),
    ])?;
    for p in [&a.out, &a.plot] {
        crate::io::output::check(p, &[])?;
    }
    eprintln!("== 1/4 kernel self-test on {}", be.name());
    let rows = crate::selftest::run(be, 1, 1)?;
    for r in &rows {
        eprintln!(
            "   {:<20} max rel. error {:.1e}  {:>8.2} ms",
            r.op,
            r.max_rel_err,
            r.seconds * 1e3
        );
    }
    lap("self-test");
    let reference = a.assets.join("mammoth_chrM.fa");
    let bundled = a.assets.join("mammoth_chrM.crest");
    if a.steps > 0 {
        eprintln!(
            "== 2/4 training on {} ({} steps)",
            reference.display(),
            a.steps
        );
        let mut train = super::train::TrainArgs::for_demo(&reference, &a.out, a.steps);
        train.batch = a.batch;
        super::train::train(be, &train)?;
        lap("training");
    }
    let recall = |model: PathBuf| {
        super::train::eval_embed(
            be,
            &super::train::EvalArgs {
                model,
                reference: reference.clone(),
                queries: 2000,
                stride: None,
                gamma: None,
                augment: crate::commands::train::AugmentProfile::Adna,
                seed: 12345,
                json: false,
                index: None,
                beam: crate::index::DEFAULT_BEAM,
                route_width: crate::index::route::DEFAULT_WIDTH,
            },
        )
    };
    eprintln!("== 3/4 neighbour recall of 2000 held-out aDNA-damaged k-mers");
    if a.steps > 0 {
        recall(a.out.clone())?;
        eprintln!(
            "   (the short run above; next, the bundled model: 1,500 encoder steps, same queries)"
        );
    }
    recall(bundled.clone())?;
    lap("recall");
    eprintln!(
        "== 4/4 {} simulated aDNA reads (median 45 bp, deamination 0.3): crest (bundled model) vs bwa aln",
        a.reads
    );
    let sim = super::simulate::SimOpts {
        n: a.reads,
        seed: 7,
        length: None,
        median: 45.0,
        sigma: 0.3,
        min_len: 25,
        max_len: 150,
        deamination: 0.3,
        decay: 0.5,
        single_stranded: false,
        substitution: 0.001,
        indel: 0.0,
        contaminant: Vec::new(),
        contamination: 0.0,
    };
    let args = super::bench::BenchArgs {
        reference: reference.clone(),
        model: bundled,
        reads: None,
        bwa: None,
        no_bwa: false,
        threads: 2,
        tolerance: 5,
        vs_bam: None,
        json: None,
        plot: Some(a.plot.clone()),
        workdir: None,
        crest_args: Vec::new(),
        index_args: Vec::new(),
        index: None,
        breakdown: false,
        calibration_plot: None,
        sim,
    };
    super::bench::bench(&args, device, &be.name())?;
    lap("mapping benchmark");
    eprintln!(
        "demo finished in {:.1} min",
        t_start.elapsed().as_secs_f64() / 60.0
    );
    if a.steps > 0 {
        eprintln!("demo model written to {}", Path::new(&a.out).display());
    }
    eprintln!("precision–recall plot written to {}", a.plot.display());
    Ok(())
}
