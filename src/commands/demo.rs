//! `crest demo`: a few minutes on the bundled data, start to finish — the
//! kernel self-test, then training an encoder on the bundled mammoth
//! mitochondrial genome and measuring neighbour recall of damaged,
//! ancient-DNA-like query k-mers.

use std::path::{Path, PathBuf};

use crate::backend::Backend;
use crate::error::Result;

/// Options of `crest demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Directory with the bundled data (assets/ of the crest checkout).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/assets"))]
    pub assets: PathBuf,
    /// Training steps.
    #[arg(long, default_value_t = 300)]
    pub steps: u64,
    /// Where to write the demo model.
    #[arg(long, default_value = "crest-demo.crest")]
    pub out: PathBuf,
}

/// Run the demo.
pub fn demo(be: &Backend, a: &DemoArgs) -> Result<()> {
    eprintln!("== 1/3 kernel self-test on {}", be.name());
    let rows = crate::selftest::run(be, 1, 1)?;
    for r in &rows {
        eprintln!(
            "   {:<20} max rel. error {:.1e}  {:>8.2} ms",
            r.op,
            r.max_rel_err,
            r.seconds * 1e3
        );
    }
    let reference = a.assets.join("mammoth_chrM.fa");
    eprintln!(
        "== 2/3 training on {} ({} steps)",
        reference.display(),
        a.steps
    );
    let train = super::train::TrainArgs::for_demo(&reference, &a.out, a.steps);
    super::train::train(be, &train)?;
    let recall = |model: PathBuf| {
        super::train::eval_embed(
            be,
            &super::train::EvalArgs {
                model,
                reference: reference.clone(),
                queries: 2000,
                stride: None,
                gamma: None,
                augment: "adna".into(),
                seed: 12345,
                json: false,
            },
        )
    };
    eprintln!("== 3/3 neighbour recall of 2000 held-out aDNA-damaged k-mers");
    recall(a.out.clone())?;
    let bundled = a.assets.join("mammoth_chrM.crest");
    if bundled.exists() {
        eprintln!("== for comparison: the bundled model (1,500 encoder steps), same queries");
        recall(bundled)?;
    }
    eprintln!("demo model written to {}", Path::new(&a.out).display());
    Ok(())
}
