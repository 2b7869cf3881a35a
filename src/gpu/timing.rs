//! GPU pass timing with timestamp queries (where the adapter has them).

use super::Gpu;

/// Collects begin/end timestamps of successive compute passes.
pub struct PassTimer {
    set: Option<wgpu::QuerySet>,
    resolve: Option<wgpu::Buffer>,
    capacity: u32,
    used: u32,
    labels: Vec<&'static str>,
    period_ns: f64,
}

impl PassTimer {
    /// A timer for up to `passes` passes; inert when the device has no timestamp queries.
    pub fn new(gpu: &Gpu, passes: u32) -> Self {
        let capacity = passes.max(1) * 2;
        let (set, resolve) = if gpu.timestamps {
            let set = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("crest timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: capacity,
            });
            let resolve = gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("timestamp resolve"),
                size: capacity as u64 * 8,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            });
            (Some(set), Some(resolve))
        } else {
            (None, None)
        };
        PassTimer {
            set,
            resolve,
            capacity,
            used: 0,
            labels: Vec::new(),
            period_ns: gpu.queue.get_timestamp_period() as f64,
        }
    }

    /// Whether timestamps are actually recorded.
    pub fn enabled(&self) -> bool {
        self.set.is_some()
    }

    pub(crate) fn next_writes(&self) -> Option<wgpu::ComputePassTimestampWrites<'_>> {
        let set = self.set.as_ref()?;
        if self.used + 2 > self.capacity {
            return None;
        }
        Some(wgpu::ComputePassTimestampWrites {
            query_set: set,
            beginning_of_pass_write_index: Some(self.used),
            end_of_pass_write_index: Some(self.used + 1),
        })
    }

    pub(crate) fn commit(&mut self, enc: &mut wgpu::CommandEncoder, label: &'static str) {
        if let (Some(set), Some(resolve)) = (&self.set, &self.resolve) {
            if self.used + 2 <= self.capacity {
                enc.resolve_query_set(set, self.used..self.used + 2, resolve, self.used as u64 * 8);
                self.used += 2;
                self.labels.push(label);
            }
        }
    }

    /// Per-pass durations in nanoseconds, in recording order (empty when disabled).
    pub fn read(&self, gpu: &Gpu) -> Vec<(&'static str, f64)> {
        let Some(resolve) = &self.resolve else {
            return Vec::new();
        };
        if self.used == 0 {
            return Vec::new();
        }
        let bytes = self.used as u64 * 8;
        let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timestamp readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None });
        enc.copy_buffer_to_buffer(resolve, 0, &staging, 0, bytes);
        if gpu.submit_now(enc).is_err() {
            return Vec::new();
        }
        staging.map_async(wgpu::MapMode::Read, .., |_| {});
        if gpu.sync().is_err() {
            return Vec::new();
        }
        let Ok(view) = staging.get_mapped_range(..) else {
            return Vec::new();
        };
        let ticks: Vec<u64> = bytemuck::cast_slice::<u8, u64>(&view).to_vec();
        drop(view);
        staging.unmap();
        self.labels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let dt = ticks[2 * i + 1].saturating_sub(ticks[2 * i]);
                (*l, dt as f64 * self.period_ns)
            })
            .collect()
    }

    /// Total nanoseconds over all recorded passes.
    pub fn total_ns(&self, gpu: &Gpu) -> Option<f64> {
        if !self.enabled() {
            return None;
        }
        Some(self.read(gpu).iter().map(|(_, ns)| ns).sum())
    }
}
