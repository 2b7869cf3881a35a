//! Ancient-DNA read simulator (`crest simulate`): fragments with log-normal or
//! fixed lengths from a reference (and optionally from contaminant genomes),
//! deamination (C→T at 5' ends, and G→A at 3' ends for double-stranded
//! libraries or C→T at 3' ends for single-stranded ones, with probability
//! p0·decay^distance), sequencing substitutions and 1-bp indels, and base
//! qualities. Truth is in the read name:
//! `crest_<i>_<contig>_<start0>_<strand>_<len>` for reference reads, where
//! start0 is the 0-based leftmost reference position and strand is + or -,
//! and `crest_<i>_contam_<file>` for contaminant reads.

use std::io::Write;

use crate::error::{CrestError, Result};
use crate::io::Reference;
use crate::rng::Rng;
use crate::seq::reverse_complement;

/// Simulation settings.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Reads to write.
    pub n: usize,
    /// Seed.
    pub seed: u64,
    /// Fixed fragment length (overrides the log-normal when set).
    pub length: Option<usize>,
    /// Log-normal median fragment length.
    pub median: f64,
    /// Log-normal sigma (of ln length).
    pub sigma: f64,
    /// Shortest fragment.
    pub min_len: usize,
    /// Longest fragment.
    pub max_len: usize,
    /// Deamination probability at the terminal base.
    pub deamination: f64,
    /// Per-base decay of deamination.
    pub decay: f64,
    /// Single-stranded library (C→T at both ends) instead of double-stranded.
    pub single_stranded: bool,
    /// Per-base substitution error rate.
    pub substitution: f64,
    /// Per-base 1-bp indel rate.
    pub indel: f64,
    /// Fraction of reads drawn from the contaminant genomes.
    pub contamination: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            n: 10_000,
            seed: 1,
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
            contamination: 0.0,
        }
    }
}

/// Where a simulated read came from, parsed back from its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Truth {
    /// A reference read: contig name, 0-based start, reverse strand, fragment length.
    Reference {
        /// Contig.
        contig: String,
        /// 0-based leftmost position.
        start: usize,
        /// Reverse strand.
        reverse: bool,
        /// Fragment length on the reference.
        len: usize,
    },
    /// A contaminant read.
    Contaminant,
}

/// Parse the truth out of a simulated read name (None for other names).
pub fn parse_truth(name: &str) -> Option<Truth> {
    let rest = name.strip_prefix("crest_")?;
    let (_, rest) = rest.split_once('_')?;
    if rest.starts_with("contam_") {
        return Some(Truth::Contaminant);
    }
    // contig names may contain '_': take the last three fields from the right
    let mut parts = rest.rsplitn(4, '_');
    let len = parts.next()?.parse().ok()?;
    let strand = parts.next()?;
    let start = parts.next()?.parse().ok()?;
    let contig = parts.next()?.to_string();
    Some(Truth::Reference {
        contig,
        start,
        reverse: strand == "-",
        len,
    })
}

const BASES: &[u8; 4] = b"ACGT";

fn fragment_len(cfg: &SimConfig, rng: &mut Rng) -> usize {
    match cfg.length {
        Some(l) => l,
        None => {
            let l = (cfg.median.ln() + cfg.sigma * rng.normal()).exp().round() as usize;
            l.clamp(cfg.min_len, cfg.max_len)
        }
    }
}

/// Damage, errors and qualities applied to a molecule (5'→3').
fn sequence_molecule(mol: &[u8], cfg: &SimConfig, rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
    let n = mol.len();
    let mut read = Vec::with_capacity(n + 2);
    for (p, &b) in mol.iter().enumerate() {
        let d5 = cfg.deamination * cfg.decay.powi(p as i32);
        let d3 = cfg.deamination * cfg.decay.powi((n - 1 - p) as i32);
        let mut b = b;
        if b == b'C' && (rng.uniform() < d5 || (cfg.single_stranded && rng.uniform() < d3)) {
            b = b'T';
        } else if b == b'G' && !cfg.single_stranded && rng.uniform() < d3 {
            b = b'A';
        }
        if cfg.indel > 0.0 && rng.uniform() < cfg.indel {
            if rng.uniform() < 0.5 {
                continue; // deletion
            }
            read.push(BASES[rng.below(4) as usize]); // insertion before b
        }
        if cfg.substitution > 0.0 && rng.uniform() < cfg.substitution {
            let others: Vec<u8> = BASES.iter().copied().filter(|&x| x != b).collect();
            b = others[rng.below(others.len() as u64) as usize];
        }
        read.push(b);
    }
    // Qualities: high in the middle, falling towards the 3' end, Q2..Q40.
    let len = read.len();
    let qual = (0..len)
        .map(|i| {
            let q = 38.0 - 8.0 * (i as f64 / len.max(1) as f64) + 2.0 * rng.normal();
            33 + q.clamp(2.0, 40.0) as u8
        })
        .collect();
    (read, qual)
}

/// Write `cfg.n` FASTQ records; returns (reference reads, contaminant reads).
pub fn simulate(
    reference: &Reference,
    contaminants: &[(String, Reference)],
    cfg: &SimConfig,
    out: &mut dyn Write,
) -> Result<(usize, usize)> {
    let usable: Vec<usize> = (0..reference.contigs.len())
        .filter(|&i| reference.contigs[i].seq.len() >= cfg.max_len.max(cfg.length.unwrap_or(0)))
        .collect();
    if usable.is_empty() {
        return Err(CrestError::Invalid(
            "no reference contig is as long as the longest fragment".into(),
        ));
    }
    if cfg.contamination > 0.0 && contaminants.is_empty() {
        return Err(CrestError::option(
            "--contamination",
            "--contamination needs --contaminant FASTA files",
        ));
    }
    let weights: Vec<u64> = usable
        .iter()
        .map(|&i| reference.contigs[i].seq.len() as u64)
        .collect();
    let total: u64 = weights.iter().sum();
    let mut rng = Rng::new(cfg.seed);
    let (mut nref, mut ncon) = (0, 0);
    let mut i = 0;
    let mut attempts = 0u64;
    while i < cfg.n {
        attempts += 1;
        if attempts > 100 * cfg.n as u64 + 1000 {
            return Err(CrestError::Invalid(
                "could not draw fragments without N; is the reference mostly N?".into(),
            ));
        }
        let len = fragment_len(cfg, &mut rng);
        let contam = cfg.contamination > 0.0 && rng.uniform() < cfg.contamination;
        let (source, label): (&Reference, Option<&str>) = if contam {
            let (name, r) = &contaminants[rng.below(contaminants.len() as u64) as usize];
            (r, Some(name.as_str()))
        } else {
            (reference, None)
        };
        let ci = if contam {
            rng.below(source.contigs.len() as u64) as usize
        } else {
            let mut x = rng.below(total);
            let mut k = 0;
            while x >= weights[k] {
                x -= weights[k];
                k += 1;
            }
            usable[k]
        };
        let seq = &source.contigs[ci].seq;
        if seq.len() < len {
            continue;
        }
        let start = rng.below((seq.len() - len + 1) as u64) as usize;
        let frag = &seq[start..start + len];
        if frag.contains(&b'N') {
            continue;
        }
        let reverse = rng.below(2) == 1;
        let mol = if reverse {
            reverse_complement(frag)
        } else {
            frag.to_vec()
        };
        let (read, qual) = sequence_molecule(&mol, cfg, &mut rng);
        let name = match label {
            Some(f) => format!("crest_{i}_contam_{f}"),
            None => format!(
                "crest_{i}_{}_{start}_{}_{len}",
                reference.contigs[ci].name,
                if reverse { '-' } else { '+' }
            ),
        };
        writeln!(
            out,
            "@{name}\n{}\n+\n{}",
            String::from_utf8_lossy(&read),
            String::from_utf8_lossy(&qual)
        )
        .map_err(|e| CrestError::io("-", e))?;
        if contam {
            ncon += 1;
        } else {
            nref += 1;
        }
        i += 1;
    }
    Ok((nref, ncon))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::Contig;

    fn reference() -> Reference {
        let mut rng = Rng::new(5);
        Reference {
            contigs: vec![Contig {
                name: "chr_1".into(),
                seq: (0..3000).map(|_| BASES[rng.below(4) as usize]).collect(),
                md5: String::new(),
            }],
        }
    }

    fn run(cfg: &SimConfig) -> String {
        let mut out = Vec::new();
        simulate(&reference(), &[], cfg, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn error_free_reads_match_their_truth_and_same_seed_is_identical() {
        let cfg = SimConfig {
            n: 300,
            deamination: 0.0,
            substitution: 0.0,
            ..Default::default()
        };
        let text = run(&cfg);
        assert_eq!(text, run(&cfg));
        let r = reference();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1200);
        for rec in lines.chunks(4) {
            let Some(Truth::Reference {
                contig,
                start,
                reverse,
                len,
            }) = parse_truth(&rec[0][1..])
            else {
                panic!("{}", rec[0])
            };
            assert_eq!(contig, "chr_1");
            let frag = &r.contigs[0].seq[start..start + len];
            let want = if reverse {
                reverse_complement(frag)
            } else {
                frag.to_vec()
            };
            assert_eq!(rec[1].as_bytes(), &want[..]);
            assert!((25..=150).contains(&len));
            assert_eq!(rec[3].len(), len);
        }
    }

    #[test]
    fn damage_shows_at_the_ends() {
        let cfg = SimConfig {
            n: 3000,
            length: Some(40),
            substitution: 0.0,
            deamination: 0.5,
            ..Default::default()
        };
        let r = reference();
        let text = run(&cfg);
        let (mut c5, mut t5, mut cmid, mut tmid) = (0, 0, 0, 0);
        for rec in text.lines().collect::<Vec<_>>().chunks(4) {
            let Some(Truth::Reference {
                start,
                reverse,
                len,
                ..
            }) = parse_truth(&rec[0][1..])
            else {
                panic!()
            };
            let frag = &r.contigs[0].seq[start..start + len];
            let mol = if reverse {
                reverse_complement(frag)
            } else {
                frag.to_vec()
            };
            let read = rec[1].as_bytes();
            if mol[0] == b'C' {
                c5 += 1;
                t5 += (read[0] == b'T') as u32;
            }
            if mol[20] == b'C' {
                cmid += 1;
                tmid += (read[20] == b'T') as u32;
            }
        }
        let rate5 = t5 as f64 / c5 as f64;
        assert!((0.4..0.6).contains(&rate5), "5' C→T rate {rate5}");
        assert_eq!(tmid, 0, "no damage mid-read ({cmid} Cs)");
    }

    #[test]
    fn lengths_follow_the_log_normal_median() {
        let cfg = SimConfig {
            n: 2000,
            ..Default::default()
        };
        let mut lens: Vec<usize> = run(&cfg)
            .lines()
            .skip(1)
            .step_by(4)
            .map(|l| l.len())
            .collect();
        lens.sort();
        let median = lens[lens.len() / 2];
        assert!((42..=48).contains(&median), "median {median}");
    }
}
