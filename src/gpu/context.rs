//! The device context: adapter + device + queue + pipeline cache.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::adapter::{self, AdapterSummary, DeviceChoice};
use crate::error::{CrestError, Result};

thread_local! {
    static CAP_OVERRIDE: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// Limits a workload needs from the adapter. Each is checked before the device
/// is requested, so a too-small adapter gives "needs X, adapter gives Y"
/// instead of a wgpu panic.
#[derive(Clone, Debug)]
pub struct Requirements {
    /// Largest single storage binding the workload must bind (bytes).
    pub storage_binding: u64,
    /// Largest single buffer (bytes).
    pub buffer_size: u64,
    /// Storage buffers bound at once by one kernel.
    pub storage_buffers_per_stage: u32,
    /// Workgroup shared memory of the largest kernel (bytes).
    pub workgroup_storage: u32,
    /// Invocations per workgroup of the largest kernel.
    pub invocations_per_workgroup: u32,
}

impl Default for Requirements {
    /// What crest's kernels themselves need: they are written for the WebGPU
    /// default limits, so any conformant adapter satisfies these.
    fn default() -> Self {
        Requirements {
            storage_binding: 1 << 20,
            buffer_size: 1 << 20,
            storage_buffers_per_stage: 7, // the Poincaré backward kernels bind 7
            workgroup_storage: 8 * 1024 + 512,
            invocations_per_workgroup: 256,
        }
    }
}

/// The GPU context crest runs on. Cheap to share (`Arc<Gpu>`); all methods take `&self`.
pub struct Gpu {
    /// wgpu device.
    pub device: wgpu::Device,
    /// wgpu queue.
    pub queue: wgpu::Queue,
    /// What the adapter is.
    pub summary: AdapterSummary,
    /// Limits granted to the device.
    pub limits: wgpu::Limits,
    /// Whether timestamp queries were enabled.
    pub timestamps: bool,
    /// Largest binding used when splitting work: the device's
    /// `max_storage_buffer_binding_size` (and `max_buffer_size`).
    binding_cap: u64,
    pipelines: Mutex<HashMap<(&'static str, &'static str), Arc<wgpu::ComputePipeline>>>,
    /// The last step's submission and the stream epoch it closed (see
    /// [`Gpu::end_step`]).
    step_marker: Mutex<Option<(wgpu::SubmissionIndex, u64)>>,
    /// The open command encoder that kernel launches and device copies are
    /// recorded into, submitted by [`Gpu::flush`] (before a read-back or a
    /// wait, and every [`FLUSH_EVERY`] passes).
    stream: Mutex<Stream>,
    /// Buffers handed back for reuse (see [`super::pool`]).
    pub(crate) pool: Arc<Mutex<super::pool::Pool>>,
    /// Read-back buffers by size, reused (each read waits for its copy).
    pub(crate) staging_pool: Mutex<HashMap<u64, Vec<wgpu::Buffer>>>,
    /// Traffic counters.
    counters: Counters,
}

/// Compute passes recorded into one command buffer before it is submitted
/// (cubecl's wgpu stream flushes by count the same way): enough that a
/// mapping batch takes a handful of submissions, few enough that the device
/// starts on the work while the host records more.
pub const FLUSH_EVERY: u32 = 256;

#[derive(Default)]
struct Stream {
    encoder: Option<wgpu::CommandEncoder>,
    passes: u32,
    /// Entry point of the last pass recorded (named in a submission error).
    last: &'static str,
}

/// Device traffic since the context was created: what predicts GPU speed
/// where no GPU is at hand (`crest map --stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct GpuCounters {
    /// Kernel dispatches.
    pub dispatches: u64,
    /// Queue submissions.
    pub submissions: u64,
    /// Blocking waits of the host for the device.
    pub waits: u64,
    /// Device buffers created (pooled buffers reused are not counted).
    pub buffers_created: u64,
    /// Bytes copied host → device.
    pub bytes_up: u64,
    /// Bytes copied device → host.
    pub bytes_down: u64,
}

impl GpuCounters {
    /// `self - before`, field by field.
    pub fn since(&self, before: &GpuCounters) -> GpuCounters {
        GpuCounters {
            dispatches: self.dispatches - before.dispatches,
            submissions: self.submissions - before.submissions,
            waits: self.waits - before.waits,
            buffers_created: self.buffers_created - before.buffers_created,
            bytes_up: self.bytes_up - before.bytes_up,
            bytes_down: self.bytes_down - before.bytes_down,
        }
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub dispatches: AtomicU64,
    pub submissions: AtomicU64,
    pub waits: AtomicU64,
    pub buffers_created: AtomicU64,
    pub bytes_up: AtomicU64,
    pub bytes_down: AtomicU64,
}

impl Counters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("adapter", &self.summary.name)
            .field("backend", &self.summary.backend)
            .finish()
    }
}

fn check(what: &str, needs: u64, gives: u64, adapter: &str) -> Result<()> {
    if needs > gives {
        return Err(CrestError::Limit {
            what: what.to_string(),
            needs,
            gives,
            adapter: adapter.to_string(),
        });
    }
    Ok(())
}

impl Gpu {
    /// Create a context on the adapter `choice` selects, with at least `req`.
    /// Returns the context and a one-line notice to print (e.g. CPU fallback).
    pub fn new(choice: &DeviceChoice, req: &Requirements) -> Result<(Arc<Gpu>, Option<String>)> {
        let instance = adapter::instance();
        let (adapter, notice) = adapter::choose(&instance, choice)?;
        let summary = adapter::summarize(0, &adapter);
        let have = adapter.limits();
        let name = summary.name.as_str();
        check(
            "max_storage_buffer_binding_size",
            req.storage_binding,
            have.max_storage_buffer_binding_size,
            name,
        )?;
        check(
            "max_buffer_size",
            req.buffer_size,
            have.max_buffer_size,
            name,
        )?;
        check(
            "max_storage_buffers_per_shader_stage",
            req.storage_buffers_per_stage.into(),
            have.max_storage_buffers_per_shader_stage.into(),
            name,
        )?;
        check(
            "max_compute_workgroup_storage_size",
            req.workgroup_storage.into(),
            have.max_compute_workgroup_storage_size.into(),
            name,
        )?;
        check(
            "max_compute_invocations_per_workgroup",
            req.invocations_per_workgroup.into(),
            have.max_compute_invocations_per_workgroup.into(),
            name,
        )?;
        // Ask for what the workload needs, and as much buffer room as the
        // adapter offers (bigger bindings mean fewer splits).
        let mut limits = wgpu::Limits::downlevel_defaults();
        limits.max_storage_buffer_binding_size = have.max_storage_buffer_binding_size;
        limits.max_buffer_size = have.max_buffer_size;
        limits.max_storage_buffers_per_shader_stage = req
            .storage_buffers_per_stage
            .max(limits.max_storage_buffers_per_shader_stage)
            .min(have.max_storage_buffers_per_shader_stage);
        limits.max_compute_workgroup_storage_size = have.max_compute_workgroup_storage_size;
        limits.max_compute_invocations_per_workgroup = have.max_compute_invocations_per_workgroup;
        limits.max_compute_workgroup_size_x = have.max_compute_workgroup_size_x;
        limits.max_compute_workgroup_size_y = have.max_compute_workgroup_size_y;
        limits.max_compute_workgroup_size_z = have.max_compute_workgroup_size_z;
        limits.max_compute_workgroups_per_dimension = have.max_compute_workgroups_per_dimension;
        limits.max_bind_groups = have.max_bind_groups.min(4);
        limits.max_uniform_buffer_binding_size = have.max_uniform_buffer_binding_size;
        limits.min_storage_buffer_offset_alignment = have.min_storage_buffer_offset_alignment;
        limits.min_uniform_buffer_offset_alignment = have.min_uniform_buffer_offset_alignment;

        let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY)
            && std::env::var_os("CREST_NO_TIMESTAMPS").is_none();
        let features = if timestamps {
            wgpu::Features::TIMESTAMP_QUERY
        } else {
            wgpu::Features::empty()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("crest"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| CrestError::Device {
            adapter: summary.name.clone(),
            message: e.to_string(),
        })?;
        device.on_uncaptured_error(Arc::new(|e: wgpu::Error| {
            tracing::error!("uncaptured wgpu error: {e}");
        }));
        let cap = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        Ok((
            Arc::new(Gpu {
                device,
                queue,
                summary,
                limits,
                timestamps,
                binding_cap: cap,
                pipelines: Mutex::new(HashMap::new()),
                step_marker: Mutex::new(None),
                stream: Mutex::new(Stream::default()),
                pool: Arc::new(Mutex::new(super::pool::Pool::default())),
                staging_pool: Mutex::new(HashMap::new()),
                counters: Counters::default(),
            }),
            notice,
        ))
    }

    /// Largest number of bytes one binding may cover: the device limit, or
    /// less inside [`Gpu::with_binding_cap`] on this thread.
    pub fn binding_cap(&self) -> u64 {
        CAP_OVERRIDE.with(|c| {
            c.get()
                .map_or(self.binding_cap, |o| o.min(self.binding_cap))
        })
    }

    /// Run `f` with the per-binding size used for splitting work lowered to
    /// `bytes` on this thread (never raised above the device limit). Lets tests
    /// exercise the splitting paths on small data without a huge device.
    pub fn with_binding_cap<R>(&self, bytes: u64, f: impl FnOnce() -> R) -> R {
        let old = CAP_OVERRIDE.with(|c| c.replace(Some(bytes.max(256))));
        let r = f();
        CAP_OVERRIDE.with(|c| c.set(old));
        r
    }

    /// Whether the adapter is a CPU driver (llvmpipe, WARP, SwiftShader):
    /// kernels whose best layout differs pick theirs by this.
    pub fn is_cpu(&self) -> bool {
        self.summary.device_type == "Cpu"
    }

    /// Largest uniform binding, bytes.
    pub fn uniform_cap(&self) -> u64 {
        self.limits.max_uniform_buffer_binding_size
    }

    /// Largest buffer, bytes.
    pub fn max_buffer(&self) -> u64 {
        self.limits.max_buffer_size
    }

    /// Required alignment of storage-binding offsets, bytes.
    pub fn offset_align(&self) -> u64 {
        self.limits.min_storage_buffer_offset_alignment as u64
    }

    /// Largest workgroup count per dispatch dimension.
    pub fn max_groups(&self) -> u32 {
        self.limits.max_compute_workgroups_per_dimension
    }

    /// The compute pipeline for `entry` in shader `name`, compiled on first use.
    pub fn pipeline(
        &self,
        name: &'static str,
        source: &str,
        entry: &'static str,
    ) -> Result<Arc<wgpu::ComputePipeline>> {
        let mut cache = self.pipelines.lock().expect("pipeline cache poisoned");
        if let Some(p) = cache.get(&(name, entry)) {
            return Ok(p.clone());
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(name),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
        if let Some(err) = pollster::block_on(scope.pop()) {
            return Err(CrestError::Shader {
                name: format!("{name}:{entry}"),
                message: err.to_string(),
            });
        }
        let p = Arc::new(pipeline);
        cache.insert((name, entry), p.clone());
        Ok(p)
    }

    /// Mark the end of one step of a loop (a training step, a mapping batch):
    /// waits until the previous step's work has finished, so that at most one
    /// step is in flight, and lets wgpu reclaim the buffers dropped since.
    /// Without it a host that runs ahead of the device queues unbounded work
    /// and memory.
    pub fn end_step(&self) -> Result<()> {
        let (idx, closed) = self.flush_stream()?;
        let mut marker = self.step_marker.lock().expect("step marker poisoned");
        if let Some((idx, epoch)) = marker.take() {
            Counters::add(&self.counters.waits, 1);
            self.device
                .poll(wgpu::PollType::Wait {
                    submission_index: Some(idx),
                    timeout: None,
                })
                .map_err(|e| CrestError::Gpu {
                    op: "poll".into(),
                    message: e.to_string(),
                })?;
            // the previous step's work is done: buffers dropped up to its
            // epoch are free (without this only a full sync frees them, and
            // a loop of steps with no read-back holds them all)
            self.pool
                .lock()
                .expect("buffer pool poisoned")
                .release(epoch);
        }
        *marker = Some((
            match idx {
                Some(i) => i,
                None => self.queue.submit([]),
            },
            closed,
        ));
        Ok(())
    }

    /// Wait for all recorded work to finish (flushing the stream first);
    /// buffers dropped before it become free for reuse.
    pub fn sync(&self) -> Result<()> {
        let (_, closed) = self.flush_stream()?;
        Counters::add(&self.counters.waits, 1);
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| CrestError::Gpu {
                op: "poll".into(),
                message: e.to_string(),
            })?;
        self.pool
            .lock()
            .expect("buffer pool poisoned")
            .release(closed);
        Ok(())
    }

    /// Record into the open command encoder (creating one if none is open):
    /// `passes` compute passes of `entry` (0 for copies). Submits the stream
    /// once [`FLUSH_EVERY`] passes are waiting.
    pub(crate) fn record<R>(
        &self,
        entry: &'static str,
        passes: u32,
        f: impl FnOnce(&mut wgpu::CommandEncoder) -> R,
    ) -> Result<R> {
        let full = {
            let mut s = self.stream.lock().expect("stream poisoned");
            let enc = s.encoder.get_or_insert_with(|| {
                self.device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("crest stream"),
                    })
            });
            let r = f(enc);
            s.passes += passes;
            if passes > 0 {
                s.last = entry;
            }
            (s.passes >= FLUSH_EVERY, r)
        };
        if full.0 {
            self.flush()?;
        }
        Ok(full.1)
    }

    /// Submit what the stream has recorded (nothing when it is empty).
    /// Returns the submission, if there was one.
    pub fn flush(&self) -> Result<Option<wgpu::SubmissionIndex>> {
        self.flush_stream().map(|(idx, _)| idx)
    }

    /// [`Gpu::flush`], also returning the pool epoch it closed: buffers
    /// dropped up to that epoch were used only by work submitted by now.
    /// Submissions happen under the stream lock, so they are in epoch order.
    fn flush_stream(&self) -> Result<(Option<wgpu::SubmissionIndex>, u64)> {
        let mut s = self.stream.lock().expect("stream poisoned");
        s.passes = 0;
        let closed = self.pool.lock().expect("buffer pool poisoned").next_epoch();
        let Some(enc) = s.encoder.take() else {
            return Ok((None, closed));
        };
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let idx = self.queue.submit([enc.finish()]);
        Counters::add(&self.counters.submissions, 1);
        if let Some(err) = pollster::block_on(scope.pop()) {
            return Err(CrestError::Gpu {
                op: format!("submitting work up to {}", s.last),
                message: err.to_string(),
            });
        }
        Ok((Some(idx), closed))
    }

    /// Submit a command buffer of its own (after the stream, in order).
    pub(crate) fn submit_now(&self, enc: wgpu::CommandEncoder) -> Result<wgpu::SubmissionIndex> {
        self.flush()?;
        Counters::add(&self.counters.submissions, 1);
        Ok(self.queue.submit([enc.finish()]))
    }

    pub(crate) fn counters_ref(&self) -> &Counters {
        &self.counters
    }

    /// Device traffic so far.
    pub fn counters(&self) -> GpuCounters {
        let c = &self.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        GpuCounters {
            dispatches: g(&c.dispatches),
            submissions: g(&c.submissions),
            waits: g(&c.waits),
            buffers_created: g(&c.buffers_created),
            bytes_up: g(&c.bytes_up),
            bytes_down: g(&c.bytes_down),
        }
    }
}
