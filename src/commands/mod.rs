//! Subcommand implementations behind the `crest` binary. Each takes its
//! parsed clap arguments and the chosen backend; [`cli`] defines the command
//! line and dispatches, `main.rs` only parses and exits.

/// `println!` into [`print_out`]: a failed write returns the error from the
/// enclosing function instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {
        $crate::commands::print_out(&format!("{}\n", format_args!($($t)*)))?
    };
}

pub mod bench;
pub mod classify;
pub mod classify_args;
pub mod classify_cnn;
pub mod cli;
pub mod damage;
pub mod dedup;
pub mod demo;
pub mod devices;
pub mod embed;
pub mod index;
pub mod map;
pub mod parse;
pub mod profile;
pub mod scaling;
pub mod selftest;
pub mod simulate;
pub mod stats;
pub mod sv;
pub mod train;

use std::path::Path;

use crate::backend::Backend;
use crate::error::{CrestError, Result};
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

/// Write a command's result text to standard output and flush it. A failed
/// write (a full disk, a closed descriptor) is an error naming standard
/// output instead of the panic of `print!`; a closed pipe still ends crest
/// quietly, as SIGPIPE keeps its default action (see `main`).
pub fn print_out(text: &str) -> Result<()> {
    use std::io::Write;
    let mut so = std::io::stdout().lock();
    so.write_all(text.as_bytes())
        .and_then(|()| so.flush())
        .map_err(|e| CrestError::io("standard output", e))
}
