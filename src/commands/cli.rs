//! The `crest` command line: the clap definition of every subcommand and
//! one dispatch to its function. `main.rs` parses, sets up logging and exits.

use clap::{CommandFactory, Parser, Subcommand};

use super::{
    bench, classify, damage, dedup, demo, devices, embed, index, map, profile, scaling, selftest,
    simulate, stats, sv, train,
};
use crate::backend::Backend;
use crate::error::Result;
use crate::gpu::{DeviceChoice, Requirements};

/// The `crest` command line.
#[derive(Parser)]
#[command(
    name = "crest",
    version = crate::VERSION,
    about = "Learns where short DNA sequences come from: GPU k-mer encoders for ancient-DNA read mapping"
)]
pub struct Cli {
    /// Compute device: auto (GPU, else CPU adapter), gpu, cpu, N (see `crest devices`),
    /// or cpu-reference (plain Rust, no wgpu). WGPU_BACKEND and WGPU_ADAPTER_NAME narrow the choice.
    #[arg(long, global = true, default_value = "auto")]
    pub device: DeviceChoice,
    /// Log more (repeat for debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The subcommand.
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// crest's subcommands.
#[derive(Subcommand)]
pub enum Cmd {
    /// List every GPU/CPU adapter wgpu can see, with the limits crest cares about.
    Devices(devices::DevicesArgs),
    /// Read sequence files (FASTA/FASTQ/SAM/BAM, .gz) and report records and bases.
    Stats(stats::StatsArgs),
    /// A few minutes on the bundled data: self-test, short training, recall, simulated reads mapped and benchmarked against BWA-aln.
    Demo(demo::DemoArgs),
    /// Train a contrastive k-mer encoder on a reference (or self-supervised on reads).
    Train(train::TrainArgs),
    /// Neighbour recall of held-out augmented k-mers against a reference k-mer grid.
    EvalEmbed(train::EvalArgs),
    /// Index a reference for a model: grid embeddings, k-means tree, repeat copies.
    Index(index::IndexArgs),
    /// Map reads (FASTQ/FASTA/SAM/BAM) to a reference: SAM/BAM out.
    Map(map::MapArgs),
    /// Sum the damage profiles of a library's shards (from `crest map --damage-profile`) into one.
    Damage(damage::DamageArgs),
    /// Mark duplicates of merged aDNA reads by both ends, contig and strand (sorted BAM in, BAM out).
    Dedup(dedup::DedupArgs),
    /// Simulate ancient-DNA reads (damage, short fragments, errors, contamination) with their origin in the name.
    Simulate(simulate::SimulateArgs),
    /// Plant structural variants (deletions, insertions, inversions, tandem duplications, translocations) into a reference: altered genome, truth VCF, optional long reads.
    SimulateSv(sv::SimulateSvArgs),
    /// Structural variants of assemblies or long reads from their trajectory along the reference (placed windows → chains → breakpoints): VCF, BED, dot plot.
    Sv(sv::SvArgs),
    /// Score structural-variant calls (VCF) against a truth VCF: recall, precision and breakpoint error per kind and size.
    SvEval(sv::SvEvalArgs),
    /// Reads and relative abundance per genome of a panel (metagenomic profile): reads placed nowhere are `unassigned`, reads tied between genomes `ambiguous`; TSV and bar chart.
    Profile(profile::ProfileArgs),
    /// crest vs BWA-aln on the same (simulated or given) reads: accuracy by MAPQ, speed, memory.
    Bench(bench::BenchArgs),
    /// Cost per read against genome size: crest (tree and flat search) and BWA-aln on reads simulated from each reference; table and log-log plot.
    Scaling(scaling::ScalingArgs),
    /// Classify sequences by embedding search with a confidence per label level (train a database, search it).
    #[command(subcommand)]
    Classify(classify::ClassifyCmd),
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
    Embed(embed::EmbedArgs),
    /// Check every kernel against its CPU twin on the chosen device and time it.
    Selftest(selftest::SelftestArgs),
}

/// Open the backend `choice` names, printing its notice (a CPU fallback) to stderr.
pub fn open_backend(choice: &DeviceChoice) -> Result<Backend> {
    let (backend, notice) = Backend::open(choice, &Requirements::default())?;
    if let Some(n) = notice {
        eprintln!("{n}");
    }
    Ok(backend)
}

/// Run the parsed command line. `command_line` is the invocation as typed
/// (written into SAM/VCF headers and reports).
pub fn run(cli: Cli, command_line: &str) -> Result<()> {
    let dev = &cli.device;
    let be = || open_backend(dev);
    match cli.cmd {
        Cmd::Devices(a) => devices::devices(&a),
        Cmd::Stats(a) => stats::stats(&a),
        Cmd::Demo(a) => demo::demo(&be()?, &dev.to_string(), &a),
        Cmd::Train(a) => train::train(&be()?, &a),
        Cmd::EvalEmbed(a) => train::eval_embed(&be()?, &a),
        Cmd::Index(a) => index::index(&be()?, &a),
        Cmd::Map(a) => {
            crate::gpu::bound_cpu_adapter_threads(a.threads);
            map::map(&be()?, &a, command_line).map(drop)
        }
        Cmd::Simulate(a) => simulate::simulate(&a),
        Cmd::SimulateSv(a) => sv::simulate_sv(&a, command_line),
        Cmd::Sv(a) => {
            // the alignment baseline (--paf) needs no device
            let be = match a.paf {
                Some(_) => Backend::CpuReference,
                None => be()?,
            };
            sv::sv(&be, &a, command_line).map(drop)
        }
        Cmd::SvEval(a) => sv::sv_eval(&a),
        Cmd::Profile(a) => profile::profile(&be()?, &a).map(drop),
        Cmd::Damage(a) => damage::damage(&a).map(drop),
        Cmd::Dedup(a) => dedup::dedup(&a, command_line).map(drop),
        Cmd::Bench(a) => bench::bench(&a, &dev.to_string(), &be()?.name()).map(drop),
        Cmd::Scaling(a) => scaling::scaling(&a, &dev.to_string(), &be()?.name()).map(drop),
        Cmd::Classify(c) => classify::classify(&be()?, &c),
        Cmd::Embed(a) => embed::embed(&be()?, &a),
        Cmd::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "crest", &mut buf);
            super::print_out(&String::from_utf8_lossy(&buf))
        }
        Cmd::Man => {
            let mut buf = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut buf)
                .map_err(|e| crate::error::CrestError::io("the man page", e))?;
            super::print_out(&String::from_utf8_lossy(&buf))
        }
        Cmd::Selftest(a) => selftest::selftest(&be()?, &a),
    }
}
