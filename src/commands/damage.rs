//! `crest damage`: sum the damage profiles of a library's shards (each from
//! `crest map --damage-profile`) into one profile folder.

use std::path::PathBuf;

use crate::damage::DamageProfile;
use crate::error::{CrestError, Result};

/// Options of `crest damage`.
#[derive(clap::Args, Debug)]
pub struct DamageArgs {
    /// Profile folders to sum (written by `crest map --damage-profile`, same
    /// reference and --damage-positions).
    #[arg(required = true)]
    pub profiles: Vec<PathBuf>,
    /// Output folder for the summed profile (misincorporation.txt,
    /// lgdistribution.txt, damage.tsv, damage.svg).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Name for the source line and plot title (default: the input folders).
    #[arg(long)]
    pub name: Option<String>,
}

/// Run `crest damage`: read every profile, sum, write.
pub fn damage(a: &DamageArgs) -> Result<DamageProfile> {
    crate::damage::check_dir(&a.out, "-o")?;
    let out = std::fs::canonicalize(&a.out).ok();
    for p in &a.profiles {
        if out.is_some() && std::fs::canonicalize(p).ok() == out {
            return Err(CrestError::Invalid(format!(
                "{}: the output folder is one of the inputs",
                p.display()
            )));
        }
    }
    let mut total: Option<DamageProfile> = None;
    for p in &a.profiles {
        let (prof, _) = DamageProfile::read(p)?;
        match &mut total {
            None => total = Some(prof),
            Some(t) => t
                .merge(&prof)
                .map_err(|e| CrestError::Invalid(format!("{}: {e}", p.display())))?,
        }
    }
    let total = total.expect("clap requires at least one profile");
    let name = a.name.clone().unwrap_or_else(|| {
        let names: Vec<String> = a.profiles.iter().map(|p| p.display().to_string()).collect();
        format!("{} profiles ({})", names.len(), names.join(", "))
    });
    total.write(&a.out, &name)?;
    eprintln!(
        "crest damage: {} alignments from {} profiles; 5′ C→T {:.4}, 3′ G→A {:.4} at the terminal base → {}",
        total.reads(),
        a.profiles.len(),
        total.frequency(crate::damage::End::Five, 0, b'C', b'T'),
        total.frequency(crate::damage::End::Three, 0, b'G', b'A'),
        a.out.display()
    );
    Ok(total)
}
