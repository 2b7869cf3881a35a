//! The wgpu runtime: one place that creates the instance, picks the adapter,
//! requests the device with the limits crest needs, compiles and caches the
//! compute pipelines, moves buffers to and from the device and times passes.

mod adapter;
mod buffer;
mod context;
mod kernel;
mod pool;
mod timing;
pub mod variant;

pub use adapter::{bound_cpu_adapter_threads, describe_adapters, AdapterSummary, DeviceChoice};
pub use buffer::GpuBuf;
pub use buffer::{PooledBuffer, POOL_MAX_BUFFER};
pub use context::{Gpu, GpuCounters, Requirements, FLUSH_EVERY};
pub use kernel::{Arg, Kernel, Launch};
pub use timing::PassTimer;

/// Threads per workgroup for the 1-D element-wise kernels.
pub const WG_1D: u32 = 256;
