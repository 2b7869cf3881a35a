//! The wgpu runtime: one place that creates the instance, picks the adapter,
//! requests the device with the limits crest needs, compiles and caches the
//! compute pipelines, moves buffers to and from the device and times passes.

mod adapter;
mod buffer;
mod context;
mod kernel;
mod timing;

pub use adapter::{describe_adapters, AdapterSummary, DeviceChoice};
pub use buffer::GpuBuf;
pub use context::{Gpu, Requirements};
pub use kernel::{Arg, Kernel, Launch};
pub use timing::PassTimer;

/// Threads per workgroup for the 1-D element-wise kernels.
pub const WG_1D: u32 = 256;
