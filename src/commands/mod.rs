//! Subcommand implementations behind the `crest` binary. Each takes its
//! parsed clap arguments and the chosen backend; `main.rs` only dispatches.

pub mod bench;
pub mod classify;
pub mod classify_cnn;
pub mod damage;
pub mod dedup;
pub mod demo;
pub mod embed;
pub mod index;
pub mod map;
pub mod parse;
pub mod profile;
pub mod scaling;

pub mod simulate;
pub mod sv;
pub mod train;

use std::path::Path;

use crate::backend::Backend;
use crate::error::Result;
use crate::model::{Checkpoint, Encoder};

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn bar(total: u64, what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(total);
    pb.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{what} {{bar:30}} {{pos}}/{{len}} [{{elapsed_precise}} < {{eta_precise}}] {{msg}}"
        ))
        .expect("valid template"),
    );
    pb
}

/// Load a model checkpoint onto the backend.
pub fn load_model(be: &Backend, path: &Path) -> Result<(Checkpoint, Encoder)> {
    let ck = Checkpoint::load(path)?;
    let enc = Encoder::from_values(be, &ck.meta.encoder, ck.weights())?;
    Ok((ck, enc))
}
