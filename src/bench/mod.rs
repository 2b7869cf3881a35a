//! `crest bench`: crest and BWA-aln on the same reads and threads, scored
//! against the truth in simulated read names (or against another mapper's
//! BAM), with a markdown table, JSON and a precision–recall plot.
//!
//! Both mappers run as child processes so that wall time, CPU time and peak
//! memory are measured the same way for each (see [`measure`]).

pub mod breakdown;
pub mod measure;
pub mod plot;
pub mod scaling;
pub mod score;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{CrestError, Result};
use crate::io::ReadReader;
use breakdown::{classify, read_features, Breakdown, MapperStages, ReadFeatures, TrueLocus};
use measure::{find_program, run_measured, Cost};
use score::{concordance, read_placements, score_truth, Concordance, TruthScore};

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchPlan {
    /// Reference FASTA.
    pub reference: PathBuf,
    /// crest model.
    pub model: PathBuf,
    /// Reads (FASTQ/FASTA/SAM/BAM).
    pub reads: PathBuf,
    /// Directory for the alignments and the BWA index.
    pub workdir: PathBuf,
    /// Threads for both mappers.
    pub threads: usize,
    /// BWA executable (None: skip BWA).
    pub bwa: Option<PathBuf>,
    /// The user named `bwa`: not finding it is an error, not a note.
    pub bwa_required: bool,
    /// `--device` passed to `crest map`.
    pub device: String,
    /// Start tolerance (bp) for "correct" and "concordant".
    pub tolerance: u64,
    /// Compare with this BAM/SAM instead of the truth in read names.
    pub vs_bam: Option<PathBuf>,
    /// Extra `crest map` options.
    pub crest_args: Vec<String>,
    /// Extra options for `crest index` (run first, measured like `bwa index`,
    /// unless crest only proposes with its bit head).
    pub index_args: Vec<String>,
    /// An existing index to map with (its build is then not measured).
    pub index: Option<PathBuf>,
    /// Trace crest's candidates and break recall down by read and stage.
    pub breakdown: bool,
    /// Reuse a crest index (`crest.crest-index`) and a BWA index
    /// (`bwa_index.*`) that an earlier run left in the work directory
    /// instead of building them again (their build is then not measured).
    pub reuse: bool,
}

/// Whether a finished BWA index with this prefix exists (all five files).
fn bwa_index_exists(prefix: &Path) -> bool {
    ["amb", "ann", "bwt", "pac", "sa"].iter().all(|e| {
        let mut p = prefix.as_os_str().to_owned();
        p.push(format!(".{e}"));
        Path::new(&p).is_file()
    })
}

/// One mapper's results.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MapperResult {
    /// "crest" or "bwa aln".
    pub name: String,
    /// The command lines run.
    pub commands: Vec<String>,
    /// Mapping (for BWA: aln + samse).
    pub map: Cost,
    /// Index building (`bwa index`, or `crest index` when it ran).
    pub index: Option<Cost>,
    /// Reads per second of wall time.
    pub reads_per_s_wall: f64,
    /// Reads per CPU second.
    pub reads_per_s_cpu: f64,
    /// Accuracy against the truth in read names.
    pub truth: Option<TruthScore>,
    /// Agreement with `--vs-bam`.
    pub concordance: Option<Vec<Concordance>>,
    /// Output alignments.
    pub sam: PathBuf,
}

/// Everything `crest bench` measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchReport {
    /// Reads in the input.
    pub reads: u64,
    /// Adapter crest ran on.
    pub adapter: String,
    /// Threads given to both mappers.
    pub threads: usize,
    /// Start tolerance (bp).
    pub tolerance: u64,
    /// Per mapper.
    pub mappers: Vec<MapperResult>,
    /// Why BWA did not run, if it did not.
    pub bwa_note: Option<String>,
    /// Where reads are lost (`--breakdown`).
    pub breakdown: Option<Breakdown>,
}

fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().to_string();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Names of every read in `path`, in order.
pub fn read_names(path: &Path) -> Result<Vec<String>> {
    let mut r = ReadReader::open(path)?;
    let mut names = Vec::new();
    let mut batch = Vec::new();
    loop {
        batch.clear();
        if r.next_batch(4096, &mut batch)? == 0 {
            break;
        }
        names.extend(batch.iter().map(|rec| rec.name.clone()));
    }
    Ok(names)
}

/// Run crest (and BWA when available) on the plan's reads and score both.
pub fn run_bench(
    plan: &BenchPlan,
    adapter: &str,
    log: &mut dyn FnMut(&str),
) -> Result<BenchReport> {
    if let (Some(b), true) = (&plan.bwa, plan.bwa_required) {
        if find_program(b).is_none() {
            return Err(CrestError::option(
                "--bwa",
                format!("--bwa {}: not found or not a file", b.display()),
            ));
        }
    }
    if plan.breakdown && plan.vs_bam.is_some() {
        return Err(CrestError::option(
            "--breakdown",
            "--breakdown needs the truth in simulated read names; it does not apply with --vs-bam",
        ));
    }
    std::fs::create_dir_all(&plan.workdir).map_err(|e| CrestError::io(&plan.workdir, e))?;
    let names = read_names(&plan.reads)?;
    if names.is_empty() {
        return Err(CrestError::Invalid(format!(
            "{}: no reads",
            plan.reads.display()
        )));
    }
    let n = names.len() as f64;
    let other = match &plan.vs_bam {
        Some(p) => Some(read_placements(p)?),
        None => None,
    };
    // each mapper's placements, parsed once (the breakdown reads them again)
    let mut placed_all: Vec<Placements> = Vec::new();
    let mut score = |sam: &Path| -> Result<(Option<TruthScore>, Option<Vec<Concordance>>)> {
        let placed = read_placements(sam)?;
        let scored = match &other {
            Some(o) => (None, Some(concordance(&placed, o, plan.tolerance))),
            None => (Some(score_truth(&names, &placed, plan.tolerance)?), None),
        };
        placed_all.push(placed);
        Ok(scored)
    };
    let mut mappers = Vec::new();

    // crest
    let exe = std::env::current_exe()
        .map_err(|e| CrestError::Invalid(format!("cannot find the crest executable: {e}")))?;
    let crest_sam = plan.workdir.join("crest.sam");
    let mut commands = Vec::new();
    let head_only = plan
        .crest_args
        .windows(2)
        .any(|w| w[0] == "--propose" && w[1] == "head")
        || plan.crest_args.iter().any(|a| a == "--propose=head");
    let mut index_cost = None;
    let mut index_args: Vec<std::ffi::OsString> = Vec::new();
    let reusable = plan.workdir.join("crest.crest-index");
    let existing = plan
        .index
        .clone()
        .or_else(|| (plan.reuse && reusable.is_file()).then_some(reusable));
    if let (false, Some(existing)) = (head_only, &existing) {
        if plan.index.is_none() {
            log(&format!("reusing {}", existing.display()));
        }
        index_args = vec!["--index".into(), existing.clone().into_os_string()];
    } else if !head_only {
        let index_path = plan.workdir.join("crest.crest-index");
        let mut idx = Command::new(&exe);
        idx.arg("--device")
            .arg(&plan.device)
            .arg("index")
            .arg("--model")
            .arg(&plan.model)
            .arg("--reference")
            .arg(&plan.reference)
            .arg("-o")
            .arg(&index_path)
            .args(&plan.index_args);
        log(&format!("running {}", show(&idx)));
        commands.push(show(&idx));
        index_cost = Some(run_measured("crest index", idx, None)?);
        index_args = vec!["--index".into(), index_path.into_os_string()];
    }
    let mut cmd = Command::new(&exe);
    cmd.arg("--device")
        .arg(&plan.device)
        .arg("map")
        .arg("--model")
        .arg(&plan.model)
        .arg("--reference")
        .arg(&plan.reference)
        .arg("-t")
        .arg(plan.threads.to_string())
        .arg("-o")
        .arg(&crest_sam)
        .args(&index_args)
        .args(&plan.crest_args);
    let trace_path = plan.workdir.join("crest.trace.tsv");
    if plan.breakdown {
        cmd.arg("--trace").arg(&trace_path);
    }
    cmd.arg(&plan.reads);
    log(&format!("running {}", show(&cmd)));
    commands.push(show(&cmd));
    let cost = run_measured("crest map", cmd, None)?;
    let (truth, conc) = score(&crest_sam)?;
    mappers.push(MapperResult {
        name: "crest".into(),
        commands,
        map: cost,
        index: index_cost,
        reads_per_s_wall: n / cost.wall_s.max(1e-9),
        reads_per_s_cpu: n / cost.cpu_s.max(1e-9),
        truth,
        concordance: conc,
        sam: crest_sam,
    });

    // BWA-aln
    let mut bwa_note = None;
    match plan.bwa.as_deref().map(|b| (b, find_program(b))) {
        None => bwa_note = Some("BWA not requested".to_string()),
        Some((b, None)) => {
            bwa_note = Some(format!(
                "'{}' not found: install bwa (e.g. apt-get install bwa) or pass --bwa PATH",
                b.display()
            ))
        }
        Some((_, Some(bwa))) => {
            let prefix = plan.workdir.join("bwa_index");
            let mut idx = Command::new(&bwa);
            idx.arg("index").arg("-p").arg(&prefix).arg(&plan.reference);
            let mut commands = vec![show(&idx)];
            let index = if plan.reuse && bwa_index_exists(&prefix) {
                log(&format!("reusing {}.*", prefix.display()));
                commands[0] = format!("(reused) {}", commands[0]);
                None
            } else {
                log(&format!("running {}", show(&idx)));
                Some(run_measured("bwa index", idx, None)?)
            };
            let sai = plan.workdir.join("bwa.sai");
            let mut aln = Command::new(&bwa);
            aln.arg("aln")
                .arg("-t")
                .arg(plan.threads.to_string())
                .args(["-l", "1024", "-n", "0.01", "-o", "2"])
                .arg(&prefix)
                .arg(&plan.reads);
            log(&format!("running {} > {}", show(&aln), sai.display()));
            commands.push(format!("{} > {}", show(&aln), sai.display()));
            let c1 = run_measured("bwa aln", aln, Some(&sai))?;
            let bwa_sam = plan.workdir.join("bwa.sam");
            let mut samse = Command::new(&bwa);
            samse.arg("samse").arg(&prefix).arg(&sai).arg(&plan.reads);
            log(&format!("running {} > {}", show(&samse), bwa_sam.display()));
            commands.push(format!("{} > {}", show(&samse), bwa_sam.display()));
            let c2 = run_measured("bwa samse", samse, Some(&bwa_sam))?;
            let cost = c1.then(c2);
            let (truth, conc) = score(&bwa_sam)?;
            mappers.push(MapperResult {
                name: "bwa aln".into(),
                commands,
                map: cost,
                index,
                reads_per_s_wall: n / cost.wall_s.max(1e-9),
                reads_per_s_cpu: n / cost.cpu_s.max(1e-9),
                truth,
                concordance: conc,
                sam: bwa_sam,
            });
        }
    }
    let breakdown = if plan.breakdown {
        log("breaking recall down by read and stage");
        Some(breakdown_of(plan, &mappers, &placed_all, &trace_path)?)
    } else {
        None
    };
    Ok(BenchReport {
        reads: names.len() as u64,
        adapter: adapter.to_string(),
        threads: plan.threads,
        tolerance: plan.tolerance,
        mappers,
        bwa_note,
        breakdown,
    })
}

type Placements = std::collections::HashMap<String, Option<score::Placement>>;

/// Features of every reference read and each mapper's stage for it.
/// `placements` are in `mappers` order; crest runs first and is the one
/// with a trace.
fn breakdown_of(
    plan: &BenchPlan,
    mappers: &[MapperResult],
    placements: &[Placements],
    trace: &Path,
) -> Result<Breakdown> {
    let reference = crate::io::Reference::load(&plan.reference)?;
    let contigs: std::collections::HashMap<&str, &[u8]> = reference
        .contigs
        .iter()
        .map(|c| (c.name.as_str(), c.seq.as_slice()))
        .collect();
    let trace = crate::map::trace::read_trace(trace)?;
    let untraced = (0, Vec::new());
    let mut features: Vec<ReadFeatures> = Vec::new();
    let mut stages: Vec<Vec<breakdown::Stage>> = vec![Vec::new(); mappers.len()];
    let mut r = ReadReader::open(&plan.reads)?;
    let mut batch = Vec::new();
    let mut seen = 0u64;
    loop {
        batch.clear();
        if r.next_batch(4096, &mut batch)? == 0 {
            break;
        }
        for rec in &batch {
            seen += 1;
            let Some(crate::sim::Truth::Reference {
                contig,
                start,
                reverse,
                len,
            }) = crate::sim::parse_truth(&rec.name)
            else {
                continue;
            };
            let fragment = contigs
                .get(contig.as_str())
                .and_then(|s| s.get(start..start + len))
                .ok_or_else(|| CrestError::Format {
                    path: plan.reads.clone(),
                    record: seen,
                    message: format!(
                        "read '{}' claims {contig}:{start}+{len}, which is not in {}",
                        rec.name,
                        plan.reference.display()
                    ),
                })?;
            features.push(read_features(&rec.seq, fragment, reverse));
            let truth = TrueLocus {
                contig,
                start: start as u64,
                reverse,
            };
            for (m, placed) in placements.iter().enumerate() {
                let p = placed.get(&rec.name).and_then(|p| p.as_ref());
                // a read crest did not trace had nothing verified
                let t = (m == 0).then(|| trace.reads.get(&rec.name).unwrap_or(&untraced));
                stages[m].push(classify(&truth, p, t, trace.pad, plan.tolerance));
            }
        }
    }
    let ms: Vec<MapperStages> = mappers
        .iter()
        .zip(stages)
        .enumerate()
        .map(|(i, (m, stages))| MapperStages {
            name: &m.name,
            stages,
            traced: i == 0,
        })
        .collect();
    Ok(Breakdown::new(&features, &ms))
}

impl BenchReport {
    /// Markdown tables: accuracy (or concordance) per MAPQ threshold, then speed.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} reads, {} threads, crest on {}; correct = right contig, start within {} bp\n",
            self.reads, self.threads, self.adapter, self.tolerance
        );
        if self.mappers.iter().any(|m| m.truth.is_some()) {
            if let Some(t) = self.mappers.iter().find_map(|m| m.truth.as_ref()) {
                let _ = writeln!(
                    s,
                    "{} reads from the reference, {} contaminant reads\n",
                    t.endogenous, t.contaminants
                );
            }
            s.push_str("| mapper | MAPQ ≥ | mapped | correct | precision | recall |\n");
            s.push_str("|---|---|---|---|---|---|\n");
            for m in &self.mappers {
                if let Some(t) = &m.truth {
                    for r in &t.rows {
                        let _ = writeln!(
                            s,
                            "| {} | {} | {} | {} | {:.4} | {:.4} |",
                            m.name, r.mapq, r.mapped, r.correct, r.precision, r.recall
                        );
                    }
                }
            }
            for m in &self.mappers {
                if let Some(t) = &m.truth {
                    if t.contaminants > 0 {
                        let _ = writeln!(
                            s,
                            "\n{}: {} of {} contaminant reads placed (any MAPQ)",
                            m.name, t.contaminants_mapped, t.contaminants
                        );
                    }
                }
            }
        }
        if self.mappers.iter().any(|m| m.concordance.is_some()) {
            s.push_str("| mapper | other's MAPQ ≥ | other placed | concordant | fraction | placed only by this mapper |\n");
            s.push_str("|---|---|---|---|---|---|\n");
            for m in &self.mappers {
                for c in m.concordance.iter().flatten() {
                    let _ = writeln!(
                        s,
                        "| {} | {} | {} | {} | {:.4} | {} |",
                        m.name, c.mapq, c.other, c.concordant, c.fraction, c.ours_only
                    );
                }
            }
        }
        s.push('\n');
        s.push_str("| mapper | map wall (s) | map CPU (s) | reads/s (wall) | reads/s (CPU) | peak RSS (MiB) | index (s) |\n");
        s.push_str("|---|---|---|---|---|---|---|\n");
        for m in &self.mappers {
            let _ = writeln!(
                s,
                "| {} | {:.2} | {:.2} | {:.0} | {:.0} | {:.0} | {} |",
                m.name,
                m.map.wall_s,
                m.map.cpu_s,
                m.reads_per_s_wall,
                m.reads_per_s_cpu,
                m.map.peak_rss_mib,
                m.index
                    .map_or("— (given, not built here)".to_string(), |c| format!(
                        "{:.2}",
                        c.wall_s
                    ))
            );
        }
        if let Some(n) = &self.bwa_note {
            let _ = writeln!(s, "\nBWA-aln not run: {n}");
        }
        if let Some(b) = &self.breakdown {
            let _ = writeln!(
                s,
                "\nWhere reads from the reference are lost (recall at MAPQ ≥ {}; stage columns count reads):\n",
                breakdown::CONFIDENT
            );
            s.push_str(&b.markdown());
            s.push_str(&self.calibration_markdown());
        }
        s
    }

    /// Wrong placements per MAPQ bin beside the error rate the MAPQs promise.
    pub fn calibration_markdown(&self) -> String {
        let mut s = String::from(
            "MAPQ calibration (placed reads, contaminants included; MAPQ's error = mean 10^(−MAPQ/10)):\n\n",
        );
        s.push_str("| mapper | MAPQ | placed | wrong | observed error | MAPQ's error | observed / MAPQ's |\n");
        s.push_str("|---|---|---|---|---|---|---|\n");
        for m in &self.mappers {
            let Some(t) = &m.truth else { continue };
            for r in t.calibration.iter().filter(|r| r.placed > 0) {
                let bin = match (r.lo, r.hi) {
                    (l, h) if l == h => format!("{l}"),
                    (l, 255) => format!("{l}+"),
                    (l, h) => format!("{l}–{h}"),
                };
                let _ = writeln!(
                    s,
                    "| {} | {bin} | {} | {} | {:.4} | {:.4} | {:.2} |",
                    m.name,
                    r.placed,
                    r.wrong,
                    r.observed,
                    r.expected,
                    r.observed / r.expected
                );
            }
        }
        s
    }
}
