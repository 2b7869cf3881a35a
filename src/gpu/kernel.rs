//! Launching a compute kernel: bind arguments and record the dispatch into
//! the device's open command stream (submitted by [`Gpu::flush`]).

use super::context::Counters;
use super::{Gpu, GpuBuf, PassTimer};
use crate::error::{CrestError, Result};

/// A compute entry point in one of crest's shaders.
#[derive(Clone, Copy, Debug)]
pub struct Kernel {
    /// Shader family name (file stem), used as cache key and in errors.
    pub shader: &'static str,
    /// Full WGSL source.
    pub source: &'static str,
    /// Entry point.
    pub entry: &'static str,
}

/// One binding of a kernel, in binding-index order.
pub enum Arg<'a> {
    /// A whole storage buffer.
    Buf(&'a GpuBuf),
    /// A window of a storage buffer: (buffer, first word, words).
    /// The first word times 4 must be a multiple of the device's storage offset alignment.
    Slice(&'a GpuBuf, usize, usize),
    /// A uniform block (bytes of a `#[repr(C)]` Pod struct).
    Uniform(&'a [u8]),
    /// A window of a buffer bound as a uniform block: (buffer, first word,
    /// words). The first word times 4 must be a multiple of the device's
    /// uniform offset alignment, and the window within the uniform binding limit.
    UniformBuf(&'a GpuBuf, usize, usize),
    /// A binding index this entry point does not use.
    Unused,
}

/// One dispatch of a batch (see [`Gpu::dispatch_batch`]).
pub struct Launch<'a> {
    /// Bindings, in binding-index order.
    pub args: Vec<Arg<'a>>,
    /// Workgroup grid.
    pub groups: [u32; 3],
}

impl Gpu {
    /// Record one dispatch of `kernel` over `groups` workgroups (submitted
    /// with the stream; nothing waits).
    pub fn dispatch(&self, kernel: Kernel, args: &[Arg<'_>], groups: [u32; 3]) -> Result<()> {
        self.dispatch_timed(kernel, args, groups, None)
    }

    /// As [`Gpu::dispatch`], writing begin/end timestamps into `timer` when given.
    pub fn dispatch_timed(
        &self,
        kernel: Kernel,
        args: &[Arg<'_>],
        groups: [u32; 3],
        timer: Option<&mut PassTimer>,
    ) -> Result<()> {
        self.launch(kernel, &[(args, groups)], timer)
    }

    /// Many dispatches of one kernel recorded in one compute pass (in
    /// order: each sees the writes of those before it). For
    /// kernels launched once per window of data, where a submission per
    /// dispatch would cost more than the work.
    pub fn dispatch_batch(&self, kernel: Kernel, launches: &[Launch<'_>]) -> Result<()> {
        let items: Vec<(&[Arg<'_>], [u32; 3])> = launches
            .iter()
            .map(|l| (l.args.as_slice(), l.groups))
            .collect();
        self.launch(kernel, &items, None)
    }

    fn launch(
        &self,
        kernel: Kernel,
        items: &[(&[Arg<'_>], [u32; 3])],
        timer: Option<&mut PassTimer>,
    ) -> Result<()> {
        let max = self.max_groups();
        for (_, groups) in items {
            if groups.iter().any(|&g| g > max) {
                return Err(CrestError::Limit {
                    what: format!("workgroups per dimension for {}", kernel.entry),
                    needs: *groups.iter().max().unwrap_or(&0) as u64,
                    gives: max as u64,
                    adapter: self.summary.name.clone(),
                });
            }
        }
        let items: Vec<_> = items.iter().filter(|(_, g)| !g.contains(&0)).collect();
        if items.is_empty() {
            return Ok(());
        }
        let pipeline = self.pipeline(kernel.shader, kernel.source, kernel.entry)?;
        // every inline uniform block of the batch in one buffer, each at an
        // aligned offset
        let ualign = self.limits.min_uniform_buffer_offset_alignment as usize;
        let mut blob: Vec<u8> = Vec::new();
        let mut at: Vec<Vec<Option<(u64, u64)>>> = Vec::with_capacity(items.len());
        for (args, _) in &items {
            at.push(
                args.iter()
                    .map(|a| match a {
                        Arg::Uniform(bytes) => {
                            let off = blob.len().next_multiple_of(ualign);
                            blob.resize(off, 0);
                            blob.extend_from_slice(bytes);
                            Some((off as u64, bytes.len() as u64))
                        }
                        _ => None,
                    })
                    .collect(),
            );
        }
        let uniforms = if blob.is_empty() {
            None
        } else {
            blob.resize(blob.len().next_multiple_of(16), 0);
            // from the pool, like any other small buffer
            Some(self.upload::<u32>("params", bytemuck::cast_slice(&blob))?)
        };
        let entries = items
            .iter()
            .zip(&at)
            .map(|((args, _), at)| {
                self.bind_entries(kernel, args, at, uniforms.as_ref().map(|u| &**u.buffer))
            })
            .collect::<Result<Vec<_>>>()?;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let layout = pipeline.get_bind_group_layout(0);
        let groups_of: Vec<_> = entries
            .iter()
            .map(|entries| {
                self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some(kernel.entry),
                    layout: &layout,
                    entries,
                })
            })
            .collect();
        Counters::add(&self.counters_ref().dispatches, items.len() as u64);
        self.record(kernel.entry, 1, |enc| {
            {
                let timestamp_writes = timer.as_ref().and_then(|t| t.next_writes());
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(kernel.entry),
                    timestamp_writes,
                });
                pass.set_pipeline(&pipeline);
                for ((_, groups), bind_group) in items.iter().zip(&groups_of) {
                    pass.set_bind_group(0, bind_group, &[]);
                    pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
                }
            }
            if let Some(t) = timer {
                t.commit(enc, kernel.entry);
            }
        })?;
        if let Some(err) = pollster::block_on(scope.pop()) {
            return Err(CrestError::Gpu {
                op: kernel.entry.to_string(),
                message: err.to_string(),
            });
        }
        Ok(())
    }

    fn bind_entries<'b>(
        &self,
        kernel: Kernel,
        args: &'b [Arg<'b>],
        uniform_at: &[Option<(u64, u64)>],
        uniforms: Option<&'b wgpu::Buffer>,
    ) -> Result<Vec<wgpu::BindGroupEntry<'b>>> {
        let align = self.offset_align();
        let mut entries = Vec::with_capacity(args.len());
        for (i, a) in args.iter().enumerate() {
            let resource = match a {
                Arg::Buf(b) => b.binding(),
                Arg::Slice(b, start, len) => {
                    let offset = *start as u64 * 4;
                    if !offset.is_multiple_of(align) || start + len > b.len {
                        return Err(CrestError::shape(
                            "dispatch",
                            format!(
                                "{}: slice {start}+{len} of {} words (offset alignment {align})",
                                kernel.entry, b.len
                            ),
                        ));
                    }
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &b.buffer,
                        offset,
                        size: std::num::NonZeroU64::new((*len as u64 * 4).max(4)),
                    })
                }
                Arg::UniformBuf(b, start, len) => {
                    let offset = *start as u64 * 4;
                    let ualign = self.limits.min_uniform_buffer_offset_alignment as u64;
                    if !offset.is_multiple_of(ualign) || start + len > b.len {
                        return Err(CrestError::shape(
                            "dispatch",
                            format!(
                                "{}: uniform window {start}+{len} of {} words (offset alignment {ualign})",
                                kernel.entry, b.len
                            ),
                        ));
                    }
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &b.buffer,
                        offset,
                        size: std::num::NonZeroU64::new((*len as u64 * 4).max(4)),
                    })
                }
                Arg::Uniform(_) => {
                    let (offset, len) = uniform_at[i].expect("uniform placed above");
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: uniforms.expect("uniform buffer created above"),
                        offset,
                        size: std::num::NonZeroU64::new(len.next_multiple_of(16)),
                    })
                }
                Arg::Unused => continue,
            };
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32,
                resource,
            });
        }
        Ok(entries)
    }

    /// Workgroup grid for `n` independent items at `per_group` items per group,
    /// folded into two dimensions when one would exceed the device limit.
    /// Kernels recover the item index as `gid.x + gid.y * num_workgroups.x * per_group`.
    pub fn grid_1d(&self, n: usize, per_group: u32) -> [u32; 3] {
        let groups = n.div_ceil(per_group as usize) as u64;
        let max = self.max_groups() as u64;
        if groups <= max {
            [groups as u32, 1, 1]
        } else {
            let y = groups.div_ceil(max);
            [groups.div_ceil(y) as u32, y as u32, 1]
        }
    }
}
