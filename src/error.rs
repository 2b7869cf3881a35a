//! Typed errors for the crest library.

use std::path::PathBuf;

/// Everything that can go wrong inside the crest library.
#[derive(Debug, thiserror::Error)]
pub enum CrestError {
    /// Long work stopped on request before its end, resumable (exit status 3).
    #[error("{0}")]
    Stopped(String),
    /// No wgpu adapter matched the request.
    #[error("no GPU adapter found: {0}")]
    NoAdapter(String),
    /// The adapter cannot provide a limit the workload needs.
    #[error("{what}: needs {needs}, adapter '{adapter}' gives {gives}")]
    Limit {
        /// Which limit.
        what: String,
        /// What the workload needs.
        needs: u64,
        /// What the adapter provides.
        gives: u64,
        /// Adapter name.
        adapter: String,
    },
    /// wgpu refused to create the device.
    #[error("could not create a device on '{adapter}': {message}")]
    Device {
        /// Adapter name.
        adapter: String,
        /// wgpu's message.
        message: String,
    },
    /// A GPU operation failed (validation, out of memory, mapping).
    #[error("GPU error in {op}: {message}")]
    Gpu {
        /// Operation or kernel name.
        op: String,
        /// Message from wgpu.
        message: String,
    },
    /// A shader failed to parse or validate.
    #[error("shader {name} is invalid: {message}")]
    Shader {
        /// Shader file name.
        name: String,
        /// naga's message.
        message: String,
    },
    /// Arguments to an op are inconsistent (a programming error surfaced as an error, not a panic).
    #[error("bad arguments to {op}: {message}")]
    Shape {
        /// Operation name.
        op: &'static str,
        /// What is wrong.
        message: String,
    },
    /// An I/O error on a named file.
    #[error("{}: {error}", path.display())]
    Io {
        /// File involved.
        path: PathBuf,
        /// Underlying error (shown in the message, not chained again).
        error: std::io::Error,
    },
    /// A malformed record in an input file.
    #[error("{}: record {record}: {message}", path.display())]
    Format {
        /// File involved.
        path: PathBuf,
        /// 1-based record number (or line, where stated in the message).
        record: u64,
        /// What is wrong.
        message: String,
    },
    /// A file is not of any format crest reads.
    #[error("{}: {message}", path.display())]
    UnknownFormat {
        /// File involved.
        path: PathBuf,
        /// What was found.
        message: String,
    },
    /// A command-line option (or a combination of options) has a value
    /// crest cannot use. The message names the option.
    #[error("{message}")]
    Option {
        /// The option, as typed (`--pq`).
        option: &'static str,
        /// What is wrong, naming the option.
        message: String,
    },
    /// An operand is on another backend than the op that reads it (a
    /// programming error surfaced as an error, not a panic).
    #[error("an operand ({what}) is on a different backend than the op")]
    MixedBackends {
        /// The operand.
        what: &'static str,
    },
    /// Anything else crest refuses: an input's content that does not fit
    /// what reads it, a request it cannot serve.
    #[error("{0}")]
    Invalid(String),
}

/// Result alias used throughout the library.
pub type Result<T, E = CrestError> = std::result::Result<T, E>;

impl CrestError {
    /// Shorthand for a [`CrestError::Shape`] error.
    pub fn shape(op: &'static str, message: impl Into<String>) -> Self {
        CrestError::Shape {
            op,
            message: message.into(),
        }
    }

    /// Shorthand for a [`CrestError::Option`] error.
    pub fn option(option: &'static str, message: impl Into<String>) -> Self {
        CrestError::Option {
            option,
            message: message.into(),
        }
    }

    /// Shorthand for a [`CrestError::Io`] error.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        CrestError::Io {
            path: path.into(),
            error,
        }
    }
}
