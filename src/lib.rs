//! crest: learns where short DNA sequences come from.
//!
//! A small neural encoder trained on a reference genome (contrastive learning
//! on k-mers) proposes loci for sequencing reads, which alignment then
//! confirms. Every heavy step runs as a hand-written WGSL compute shader
//! through wgpu ([`gpu`], [`ops`]); each kernel has a plain-Rust CPU twin that
//! is both its test oracle and the `--device cpu-reference` backend
//! ([`backend`]).

/// crest's version and the git commit it was built from, e.g.
/// `0.1.0+3f2a9c1d0e4b` (`+unknown` outside a git checkout): `crest
/// --version`, the SAM `@PG VN`, damage profiles and VCF headers.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("CREST_GIT_COMMIT"));

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
pub mod plot;
pub mod profile;
pub mod rng;
pub mod selftest;
pub mod seq;
pub mod sim;
pub mod stats;
pub mod sv;
pub mod train;

pub use error::{CrestError, Result};
