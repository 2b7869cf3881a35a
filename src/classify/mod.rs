//! Classification by embedding search with a confidence score (Scorpio's
//! system): sequences with hierarchical labels ([`labels`], [`data`]) are
//! embedded by a k-mer encoder or crest's pooled conv encoder ([`encoder`],
//! [`pooled`]) trained with hierarchical
//! triplets ([`sampler`], [`train`]); the labelled embeddings form a database
//! ([`db`]) searched by exact L2 nearest neighbours; answers are chosen level
//! by level ([`search`]) with a confidence fitted on validation data
//! ([`confidence`]).

pub mod confidence;
pub mod data;
pub mod db;
pub mod encoder;
pub mod labels;
pub mod metrics;
pub mod plot;
pub mod pooled;
pub mod sampler;
pub mod search;
pub mod supervised;
pub mod table;
pub mod train;

pub use data::{Labelled, SeqSet};
pub use db::Database;
pub use encoder::{EncoderKind, EncoderSpec, MlpConfig, ProfileConfig, SeqEncoder};
pub use labels::{LabelSource, LabelTable};
pub use pooled::PooledConfig;
pub use train::{build_database, TrainProgress, TripletOptions};
