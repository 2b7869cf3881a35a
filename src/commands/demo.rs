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
    /// Directory with the bundled data (default: assets/ of the checkout
    /// crest was built from, or, for an installed binary, the copies built
    /// into it, unpacked to a temporary folder for the run).
    #[arg(long)]
    pub assets: Option<PathBuf>,
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

/// The demo's files built into the binary, so that an installed crest runs
/// `crest demo` from any folder.
const EMBEDDED: [(&str, &[u8]); 2] = [
    (
        "mammoth_chrM.fa",
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/mammoth_chrM.fa"
        )),
    ),
    (
        "mammoth_chrM.crest",
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/mammoth_chrM.crest"
        )),
    ),
];

/// Where the demo's data is: given, the source checkout's assets/, or the
/// embedded copies unpacked into a temporary folder (removed at the end
/// and on a fatal signal).
struct Assets {
    dir: PathBuf,
    unpacked: bool,
}

impl Assets {
    fn find(given: Option<&Path>) -> Result<Assets> {
        if let Some(d) = given {
            return Ok(Assets {
                dir: d.to_path_buf(),
                unpacked: false,
            });
        }
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        if EMBEDDED.iter().all(|(n, _)| checkout.join(n).is_file()) {
            return Ok(Assets {
                dir: checkout,
                unpacked: false,
            });
        }
        let dir = std::env::temp_dir().join(format!("crest-demo-assets-{}", std::process::id()));
        crate::io::output::remove_on_signal(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| crate::error::CrestError::io(&dir, e))?;
        let assets = Assets {
            dir,
            unpacked: true,
        };
        unpack(&assets.dir)?;
        Ok(assets)
    }
}

/// Write the embedded demo files into `dir`.
fn unpack(dir: &Path) -> Result<()> {
    for (name, bytes) in EMBEDDED {
        let p = dir.join(name);
        std::fs::write(&p, bytes).map_err(|e| crate::error::CrestError::io(&p, e))?;
    }
    Ok(())
}

impl Drop for Assets {
    fn drop(&mut self) {
        if self.unpacked {
            let _ = std::fs::remove_dir_all(&self.dir);
            crate::io::output::forget_on_signal(&self.dir);
        }
    }
}

/// Step 1: every kernel against its twin, one line each.
fn self_test(be: &Backend) -> Result<()> {
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
    Ok(())
}

/// Step 3's `eval-embed`: 2,000 aDNA-damaged queries, a fixed seed.
fn recall_args(model: PathBuf, reference: &Path) -> super::train::EvalArgs {
    super::train::EvalArgs {
        model,
        reference: reference.to_path_buf(),
        queries: 2000,
        stride: None,
        gamma: None,
        augment: crate::commands::train::AugmentProfile::Adna,
        seed: 12345,
        json: false,
        index: None,
        beam: crate::index::DEFAULT_BEAM,
        route_width: crate::index::route::DEFAULT_WIDTH,
    }
}

/// Step 4's benchmark: simulated reads (median 45 bp, deamination 0.3),
/// crest with `model` against bwa aln, and the precision–recall plot.
fn bench_args(a: &DemoArgs, reference: &Path, model: PathBuf) -> super::bench::BenchArgs {
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
    super::bench::BenchArgs {
        reference: reference.to_path_buf(),
        model,
        reads: None,
        bwa: None,
        no_bwa: false,
        threads: 2,
        tolerance: 5,
        vs_bam: None,
        json: None,
        plot: Some(a.plot.clone()),
        workdir: None,
        reuse: false,
        crest_args: Vec::new(),
        index_args: Vec::new(),
        index: None,
        breakdown: false,
        calibration_plot: None,
        sim,
    }
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
    self_test(be)?;
    lap("self-test");
    let assets = Assets::find(a.assets.as_deref())?;
    let reference = assets.dir.join("mammoth_chrM.fa");
    let bundled = assets.dir.join("mammoth_chrM.crest");
    if a.steps > 0 {
        let (r, n) = (reference.display(), a.steps);
        eprintln!("== 2/4 training on {r} ({n} steps)");
        let mut train = super::train::TrainArgs::for_demo(&reference, &a.out, a.steps);
        train.batch = a.batch;
        super::train::train(be, &train)?;
        lap("training");
    }
    eprintln!("== 3/4 neighbour recall of 2000 held-out aDNA-damaged k-mers");
    if a.steps > 0 {
        super::train::eval_embed(be, &recall_args(a.out.clone(), &reference))?;
        eprintln!(
            "   (the short run above; next, the bundled model: 1,500 encoder steps, same queries)"
        );
    }
    super::train::eval_embed(be, &recall_args(bundled.clone(), &reference))?;
    lap("recall");
    eprintln!(
        "== 4/4 {} simulated aDNA reads (median 45 bp, deamination 0.3): crest (bundled model) vs bwa aln",
        a.reads
    );
    super::bench::bench(&bench_args(a, &reference, bundled), device, &be.name())?;
    lap("mapping benchmark");
    let minutes = t_start.elapsed().as_secs_f64() / 60.0;
    eprintln!("demo finished in {minutes:.1} min");
    if a.steps > 0 {
        eprintln!("demo model written to {}", Path::new(&a.out).display());
    }
    eprintln!("precision–recall plot written to {}", a.plot.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An installed binary (no checkout beside it) unpacks working copies of
    /// the demo's reference and model.
    #[test]
    fn embedded_demo_files_unpack_and_load() {
        let dir = std::env::temp_dir().join(format!("crest-demo-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        unpack(&dir).unwrap();
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
        for (name, _) in EMBEDDED {
            assert_eq!(
                std::fs::read(dir.join(name)).unwrap(),
                std::fs::read(checkout.join(name)).unwrap(),
                "{name}"
            );
        }
        crate::model::Checkpoint::load(&dir.join("mammoth_chrM.crest")).unwrap();
        crate::io::Reference::load(&dir.join("mammoth_chrM.fa")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
