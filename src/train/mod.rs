//! Contrastive training of the k-mer encoder (`crest train`): sampler,
//! augmentation, the training step (forward, loss, backward, AdamW — all on
//! the backend), checkpoints, and neighbour-recall evaluation.

pub mod augment;
pub mod eval;
pub mod head;
pub mod optimizer;
pub mod sampler;
mod trainer;

pub use augment::AugmentConfig;
pub use trainer::{Progress, StepReport, TrainConfig, Trainer};
