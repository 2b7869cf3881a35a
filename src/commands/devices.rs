//! `crest devices`: every adapter wgpu can see, with the limits crest cares about.

use clap::Args;

use crate::error::{CrestError, Result};
use crate::gpu::describe_adapters;

/// Arguments of `crest devices`.
#[derive(Args, Debug)]
pub struct DevicesArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Run `crest devices`.
pub fn devices(a: &DevicesArgs) -> Result<()> {
    let list = describe_adapters();
    if a.json {
        let text = serde_json::to_string_pretty(&list)
            .map_err(|e| CrestError::Invalid(format!("devices: {e}")))?;
        outln!("{text}");
        return Ok(());
    }
    if list.is_empty() {
        outln!("no wgpu adapters found (install mesa-vulkan-drivers for a CPU adapter); --device cpu-reference still works");
        return Ok(());
    }
    let mib = |b: u64| b / (1 << 20);
    for a in list {
        outln!(
            "[{}] {} — {} {} — driver: {}",
            a.index,
            a.name,
            a.backend,
            a.device_type,
            a.driver
        );
        outln!(
            "    max binding {} MiB, max buffer {} MiB, {} storage buffers/stage, {} B workgroup memory, {} invocations/workgroup, {} workgroups/dim",
            mib(a.max_storage_buffer_binding_size),
            mib(a.max_buffer_size),
            a.max_storage_buffers_per_shader_stage,
            a.max_compute_workgroup_storage_size,
            a.max_compute_invocations_per_workgroup,
            a.max_compute_workgroups_per_dimension
        );
        outln!(
            "    timestamps: {}, subgroups: {}, f16: {}",
            a.timestamps,
            a.subgroups,
            a.shader_f16
        );
    }
    outln!("[cpu-reference] plain-Rust CPU twins of every kernel (no driver needed)");
    Ok(())
}
