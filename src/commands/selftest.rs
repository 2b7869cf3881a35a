//! `crest selftest`: every kernel against its CPU twin on the chosen device, timed.

use clap::Args;

use super::parse::{usize_in, MAX_REPS, MAX_SCALE};
use crate::backend::Backend;
use crate::error::{CrestError, Result};

/// Arguments of `crest selftest`.
#[derive(Args, Debug)]
pub struct SelftestArgs {
    /// Size multiplier of the timed shapes (1 for CPU drivers, 8+ for GPUs) (1 to 64).
    #[arg(long, default_value_t = 1, value_parser = usize_in(1, MAX_SCALE))]
    pub scale: usize,
    /// Timed repetitions per kernel (1 to 1000).
    #[arg(long, default_value_t = 3, value_parser = usize_in(1, MAX_REPS))]
    pub reps: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Run `crest selftest`: fails when a kernel disagrees with its twin.
pub fn selftest(be: &Backend, a: &SelftestArgs) -> Result<()> {
    eprintln!("device: {}", be.name());
    let rows = crate::selftest::run(be, a.scale, a.reps)
        .map_err(|e| CrestError::Invalid(format!("self-test failed: {e}")))?;
    if a.json {
        let text = serde_json::to_string_pretty(&rows)
            .map_err(|e| CrestError::Invalid(format!("selftest: {e}")))?;
        outln!("{text}");
        return Ok(());
    }
    outln!("| kernel | shape | max rel. error vs twin | ms/call | GFLOP/s |");
    outln!("|---|---|---|---|---|");
    for r in rows {
        let gf = if r.gflops > 0.0 {
            format!("{:.1}", r.gflops)
        } else {
            "—".into()
        };
        outln!(
            "| {} | {} | {:.1e} | {:.2} | {} |",
            r.op,
            r.shape,
            r.max_rel_err,
            r.seconds * 1e3,
            gf
        );
    }
    Ok(())
}
