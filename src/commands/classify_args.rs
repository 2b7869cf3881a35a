//! Options of `crest classify train` and the label options `train` and
//! `search` share: their own room, which the search-database commands
//! (`classify.rs`) and the CNN commands (`classify_cnn.rs`) both use.

use std::path::PathBuf;

use crate::classify::EncoderKind;

/// Training objective.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    /// Hierarchical triplets with a margin ranking loss (Scorpio).
    Triplet,
}

/// Where labels come from (shared by train and search).
#[derive(clap::Args, Debug, Clone)]
pub struct LabelArgs {
    /// Label file: a CSV with a header (with --id-column) or a TSV `id<TAB>l1;l2;...`.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// CSV column holding the FASTA header (or its first word).
    #[arg(long)]
    pub id_column: Option<String>,
    /// Regular expression on FASTA headers whose named groups are the levels.
    #[arg(long)]
    pub label_regex: Option<String>,
}

/// Options of `crest classify train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Train a supervised CNN of this geometry (cross-entropy on integer
    /// labels; --train/--dev are CSV with a header or FASTA with
    /// --label-regex) and write a classifier instead of a search database.
    #[arg(long, value_enum)]
    pub model: Option<crate::model::cnn::CnnKind>,
    /// Objective (embedding database).
    #[arg(long, value_enum, default_value = "triplet")]
    pub objective: Objective,
    /// Encoder.
    #[arg(long, value_enum, default_value = "kmer6")]
    pub encoder: EncoderKind,
    /// Training sequences (FASTA, .gz allowed): they form the database.
    #[arg(long)]
    pub train: PathBuf,
    /// Validation sequences: checkpoint selection (and the confidence fit of a database).
    #[arg(long, visible_alias = "dev")]
    pub val: Option<PathBuf>,
    /// --model: without --dev, hold out this seeded fraction of --train for checkpoint selection.
    #[arg(long)]
    pub holdout: Option<f64>,
    /// --model: CSV column of the sequences (default `sequence`, else `seq`).
    #[arg(long)]
    pub seq_column: Option<String>,
    /// --model: CSV column of the integer labels.
    #[arg(long, default_value = "label")]
    pub label_column: String,
    /// --model: conv channels (default 32, the paper's) (1 to 4096).
    #[arg(long, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_DIM))]
    pub channels: Option<usize>,
    /// --model: width of the fully connected layer (default 528, the paper's) (1 to 4096).
    #[arg(long, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_DIM))]
    pub hidden: Option<usize>,
    /// --model: input length in bases (default: the longest training sequence;
    /// shorter sequences are padded with N, longer ones classified by windows) (1 to 100000).
    #[arg(long, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_CNN_LEN))]
    pub len: Option<usize>,
    #[command(flatten)]
    pub labels: LabelArgs,
    /// Label levels, coarsest first (comma-separated column or group names).
    #[arg(long, value_delimiter = ',')]
    pub levels: Vec<String>,
    /// Epochs (default 30 for a database, where one epoch draws as many
    /// triplets as there are training sequences; 10 for --model) (1 to 100000).
    #[arg(long, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_EPOCHS))]
    pub epochs: Option<usize>,
    /// Stop after this many minutes (the best checkpoint so far is kept; a
    /// positive number).
    #[arg(long, value_parser = crate::commands::parse::positive)]
    pub minutes: Option<f64>,
    /// Triplets per step (1 to 65536).
    #[arg(long, default_value_t = 64, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_TRAIN_BATCH))]
    pub batch: usize,
    /// Conv encoder: start from the window encoder of a mapping model
    /// (`crest train`; Euclidean), whose architecture it takes.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Conv encoder: window length in bases (a fresh encoder; default: crest train's k) (1 to 1024).
    #[arg(long, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_WINDOW))]
    pub window: Option<usize>,
    /// Conv encoder: tiling stride in bases for the database and queries (default: the window) (1 to 65536).
    #[arg(long, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_STRIDE))]
    pub stride: Option<usize>,
    /// Conv encoder: windows per sequence, at random positions, in a training step (1 to 1024).
    #[arg(long, default_value_t = crate::classify::pooled::TRAIN_WINDOWS, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_TRAIN_WINDOWS))]
    pub train_windows: usize,
    /// Triplet margin on L2 distances between unit embeddings.
    #[arg(long, default_value_t = 0.5)]
    pub margin: f32,
    /// Peak learning rate, warm-up then cosine (default 3e-4 for a database,
    /// which beat 1e-3 on the AMR validation split; 1e-3 for --model).
    #[arg(long)]
    pub lr: Option<f32>,
    /// Stop after this many epochs without a better validation score
    /// (default 6 for a database, 3 for --model) (1 to 100000).
    #[arg(long, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_EPOCHS))]
    pub patience: Option<usize>,
    /// Hits per query (stored as the database's default) (1 to 1000).
    #[arg(long, default_value_t = 10, value_parser = crate::commands::parse::usize_in(1, crate::commands::parse::MAX_HITS))]
    pub hits: usize,
    /// Seed of weights and triplets.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write one JSON line per epoch here.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    /// Output database.
    #[arg(short, long)]
    pub out: PathBuf,
}
