//! The `crest` command line (thin: parsing, output formatting, exit codes).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand};

use crest::backend::Backend;
use crest::gpu::{describe_adapters, DeviceChoice, Requirements};

#[derive(Parser)]
#[command(
    name = "crest",
    version = crest::VERSION,
    about = "Learns where short DNA sequences come from: GPU k-mer encoders for ancient-DNA read mapping"
)]
struct Cli {
    /// Compute device: auto (GPU, else CPU adapter), gpu, cpu, N (see `crest devices`),
    /// or cpu-reference (plain Rust, no wgpu). WGPU_BACKEND and WGPU_ADAPTER_NAME narrow the choice.
    #[arg(long, global = true, default_value = "auto")]
    device: DeviceChoice,
    /// Log more (repeat for debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List every GPU/CPU adapter wgpu can see, with the limits crest cares about.
    Devices {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Read sequence files (FASTA/FASTQ/SAM/BAM, .gz) and report records and bases.
    Stats {
        /// Files to read.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Treat FASTA files as references: list contigs with length and MD5.
        #[arg(long)]
        reference: bool,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// A few minutes on the bundled data: self-test, short training, recall, simulated reads mapped and benchmarked against BWA-aln.
    Demo(crest::commands::demo::DemoArgs),
    /// Train a contrastive k-mer encoder on a reference (or self-supervised on reads).
    Train(crest::commands::train::TrainArgs),
    /// Neighbour recall of held-out augmented k-mers against a reference k-mer grid.
    EvalEmbed(crest::commands::train::EvalArgs),
    /// Index a reference for a model: grid embeddings, k-means tree, repeat copies.
    Index(crest::commands::index::IndexArgs),
    /// Map reads (FASTQ/FASTA/SAM/BAM) to a reference: SAM/BAM out.
    Map(crest::commands::map::MapArgs),
    /// Sum the damage profiles of a library's shards (from `crest map --damage-profile`) into one.
    Damage(crest::commands::damage::DamageArgs),
    /// Mark duplicates of merged aDNA reads by both ends, contig and strand (sorted BAM in, BAM out).
    Dedup(crest::commands::dedup::DedupArgs),
    /// Simulate ancient-DNA reads (damage, short fragments, errors, contamination) with their origin in the name.
    Simulate(crest::commands::simulate::SimulateArgs),
    /// Plant structural variants (deletions, insertions, inversions, tandem duplications, translocations) into a reference: altered genome, truth VCF, optional long reads.
    SimulateSv(crest::commands::sv::SimulateSvArgs),
    /// Structural variants of assemblies or long reads from their trajectory along the reference (placed windows → chains → breakpoints): VCF, BED, dot plot.
    Sv(crest::commands::sv::SvArgs),
    /// Score structural-variant calls (VCF) against a truth VCF: recall, precision and breakpoint error per kind and size.
    SvEval(crest::commands::sv::SvEvalArgs),
    /// Reads and relative abundance per genome of a panel (metagenomic profile): reads placed nowhere are `unassigned`, reads tied between genomes `ambiguous`; TSV and bar chart.
    Profile(crest::commands::profile::ProfileArgs),
    /// crest vs BWA-aln on the same (simulated or given) reads: accuracy by MAPQ, speed, memory.
    Bench(crest::commands::bench::BenchArgs),
    /// Cost per read against genome size: crest (tree and flat search) and BWA-aln on reads simulated from each reference; table and log-log plot.
    Scaling(crest::commands::scaling::ScalingArgs),
    /// Classify sequences by embedding search with a confidence per label level (train a database, search it).
    #[command(subcommand)]
    Classify(crest::commands::classify::ClassifyCmd),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell):
    /// e.g. `crest completions bash > ~/.local/share/bash-completion/completions/crest`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print crest's man page (roff): `crest man > crest.1; man ./crest.1`.
    Man,
    /// Embed sequences (or their k-mers) with a trained model: the projection
    /// the index searches (proj_dim, 128 by default), to TSV (with a header)
    /// or safetensors.
    Embed(crest::commands::embed::EmbedArgs),
    /// Check every kernel against its CPU twin on the chosen device and time it.
    Selftest {
        /// Size multiplier of the timed shapes (1 for CPU drivers, 8+ for GPUs) (1 to 64).
        #[arg(long, default_value_t = 1, value_parser = crest::commands::parse::usize_in(1, crest::commands::parse::MAX_SCALE))]
        scale: usize,
        /// Timed repetitions per kernel (1 to 1000).
        #[arg(long, default_value_t = 3, value_parser = crest::commands::parse::usize_in(1, crest::commands::parse::MAX_REPS))]
        reps: usize,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn main() {
    // Before any thread starts: the environment is set, temporary outputs are
    // removed on SIGINT, SIGTERM and SIGHUP, and a closed pipe ends crest
    // quietly.
    quiet_mesa_wayland_probe();
    crest::io::output::install_signal_cleanup();
    crest::io::output::default_sigpipe();
    let cli = parse_args();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CREST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(cli) {
        if let Some(crest::error::CrestError::Stopped(m)) = e.downcast_ref() {
            // resumable work stopped on request: not a failure of the inputs
            eprintln!("crest: {m}");
            std::process::exit(3);
        }
        eprintln!("crest: error: {e:#}");
        std::process::exit(1);
    }
}

/// The command line, or exit: usage errors with status 2 (clap's), help and
/// version text with 0, or with 1 when it cannot be written (a full disk: no
/// output must look like success).
fn parse_args() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = e.exit_code();
            if let Err(w) = e.print() {
                eprintln!("crest: error: standard output: {w}");
                std::process::exit(1);
            }
            // print() buffers through stdout's LineWriter: flush it too
            if let Err(w) = std::io::Write::flush(&mut std::io::stdout()) {
                eprintln!("crest: error: standard output: {w}");
                std::process::exit(1);
            }
            std::process::exit(code);
        }
    }
}

/// Mesa's implicit Vulkan layer `VK_LAYER_MESA_device_select` connects to a
/// Wayland compositor on every device enumeration to find the display GPU;
/// without a session libwayland prints "error: XDG_RUNTIME_DIR is invalid or
/// not set" each time. A compute-only tool has no display, so on such a
/// machine the layer is turned off (its documented `NODEVICE_SELECT`), unless
/// the user steers device choice through it.
fn quiet_mesa_wayland_probe() {
    let runtime_dir_ok = std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| {
        std::path::Path::new(&d).is_absolute() && std::path::Path::new(&d).is_dir()
    });
    let steered = ["NODEVICE_SELECT", "MESA_VK_DEVICE_SELECT", "DRI_PRIME"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    if !runtime_dir_ok && !steered {
        // Single-threaded here: main calls this before starting any thread.
        std::env::set_var("NODEVICE_SELECT", "1");
    }
}

/// `println!` whose failure (a full disk, a closed descriptor) is an error
/// naming standard output, not a panic.
macro_rules! outln {
    ($($t:tt)*) => {
        crest::commands::print_out(&format!("{}\n", format_args!($($t)*)))?
    };
}

fn open_backend(choice: &DeviceChoice) -> Result<Backend> {
    let (backend, notice) = Backend::open(choice, &Requirements::default())?;
    if let Some(n) = notice {
        eprintln!("{n}");
    }
    Ok(backend)
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Devices { json } => {
            let list = describe_adapters();
            if json {
                outln!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            if list.is_empty() {
                outln!("no wgpu adapters found (install mesa-vulkan-drivers for a CPU adapter); --device cpu-reference still works");
                return Ok(());
            }
            let mib = |b: u64| b / (1 << 20);
            for a in list {
                outln!(
                    "[{}] {} — {} {} — driver: {}",
                    a.index,
                    a.name,
                    a.backend,
                    a.device_type,
                    a.driver
                );
                outln!(
                    "    max binding {} MiB, max buffer {} MiB, {} storage buffers/stage, {} B workgroup memory, {} invocations/workgroup, {} workgroups/dim",
                    mib(a.max_storage_buffer_binding_size),
                    mib(a.max_buffer_size),
                    a.max_storage_buffers_per_shader_stage,
                    a.max_compute_workgroup_storage_size,
                    a.max_compute_invocations_per_workgroup,
                    a.max_compute_workgroups_per_dimension
                );
                outln!(
                    "    timestamps: {}, subgroups: {}, f16: {}",
                    a.timestamps,
                    a.subgroups,
                    a.shader_f16
                );
            }
            outln!("[cpu-reference] plain-Rust CPU twins of every kernel (no driver needed)");
        }
        Cmd::Stats {
            files,
            reference,
            json,
        } => {
            if !json {
                outln!("file\tformat\trecords\tbases\tmin_len\tmax_len\tN_bases");
            }
            for f in files {
                let s = crest::stats::file_stats(&f, reference)?;
                if json {
                    outln!("{}", serde_json::to_string(&s)?);
                    continue;
                }
                outln!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    s.path,
                    s.format,
                    s.records,
                    s.bases,
                    s.min_len,
                    s.max_len,
                    s.n_bases
                );
                for (name, len, md5) in &s.contigs {
                    outln!("  @SQ\tSN:{name}\tLN:{len}\tM5:{md5}");
                }
            }
        }
        Cmd::Demo(a) => {
            crest::commands::demo::demo(&open_backend(&cli.device)?, &cli.device.to_string(), &a)?
        }
        Cmd::Train(a) => crest::commands::train::train(&open_backend(&cli.device)?, &a)?,
        Cmd::EvalEmbed(a) => crest::commands::train::eval_embed(&open_backend(&cli.device)?, &a)?,
        Cmd::Index(a) => crest::commands::index::index(&open_backend(&cli.device)?, &a)?,
        Cmd::Map(a) => {
            let cl: Vec<String> = std::env::args().collect();
            crest::gpu::bound_cpu_adapter_threads(a.threads);
            crest::commands::map::map(&open_backend(&cli.device)?, &a, &cl.join(" "))?;
        }
        Cmd::Simulate(a) => crest::commands::simulate::simulate(&a)?,
        Cmd::SimulateSv(a) => {
            let cl: Vec<String> = std::env::args().collect();
            crest::commands::sv::simulate_sv(&a, &cl.join(" "))?;
        }
        Cmd::Sv(a) => {
            let cl: Vec<String> = std::env::args().collect();
            // the alignment baseline (--paf) needs no device
            let be = match a.paf {
                Some(_) => crest::backend::Backend::CpuReference,
                None => open_backend(&cli.device)?,
            };
            crest::commands::sv::sv(&be, &a, &cl.join(" "))?;
        }
        Cmd::SvEval(a) => crest::commands::sv::sv_eval(&a)?,
        Cmd::Profile(a) => {
            crest::commands::profile::profile(&open_backend(&cli.device)?, &a)?;
        }
        Cmd::Damage(a) => {
            crest::commands::damage::damage(&a)?;
        }
        Cmd::Dedup(a) => {
            let cl: Vec<String> = std::env::args().collect();
            crest::commands::dedup::dedup(&a, &cl.join(" "))?;
        }
        Cmd::Bench(a) => {
            let adapter = open_backend(&cli.device)?.name();
            crest::commands::bench::bench(&a, &cli.device.to_string(), &adapter)?;
        }
        Cmd::Scaling(a) => {
            let adapter = open_backend(&cli.device)?.name();
            crest::commands::scaling::scaling(&a, &cli.device.to_string(), &adapter)?;
        }
        Cmd::Classify(c) => crest::commands::classify::classify(&open_backend(&cli.device)?, &c)?,
        Cmd::Embed(a) => crest::commands::embed::embed(&open_backend(&cli.device)?, &a)?,
        Cmd::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "crest", &mut buf);
            crest::commands::print_out(&String::from_utf8_lossy(&buf))?;
        }
        Cmd::Man => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut buf)?;
            crest::commands::print_out(&String::from_utf8_lossy(&buf))?;
        }
        Cmd::Selftest { scale, reps, json } => {
            let backend = open_backend(&cli.device)?;
            eprintln!("device: {}", backend.name());
            let rows = crest::selftest::run(&backend, scale, reps).context("self-test failed")?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&rows)?);
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
        }
    }
    Ok(())
}
