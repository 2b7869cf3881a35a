//! crest: learns where short DNA sequences come from.
//!
//! A small neural encoder trained on a reference genome (contrastive learning
//! on k-mers) proposes loci for sequencing reads, which alignment then
//! confirms. Every heavy step runs as a hand-written WGSL compute shader
//! through wgpu ([`gpu`], [`ops`]); each kernel has a plain-Rust CPU twin that
//! is both its test oracle and the `--device cpu-reference` backend
//! ([`backend`]).

pub mod backend;
pub mod bench;
pub mod classify;
pub mod commands;
pub mod damage;
pub mod dedup;
pub mod error;
pub mod gpu;
pub mod index;
pub mod io;
pub mod map;
pub mod model;
pub mod ops;
pub mod profile;
pub mod rng;
pub mod selftest;
pub mod seq;
pub mod sim;
pub mod stats;
pub mod sv;
pub mod train;

pub use error::{CrestError, Result};
