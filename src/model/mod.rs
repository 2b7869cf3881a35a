//! Models: the k-mer encoder and its checkpoint format.

pub mod checkpoint;
pub mod cnn;
pub mod encoder;
pub mod head;
pub mod linear;

pub use checkpoint::{Checkpoint, ContigInfo, ModelMeta};
pub use encoder::{Encoder, EncoderConfig, Geometry};
pub use head::{BitHead, HeadConfig};
pub use linear::Linear;
