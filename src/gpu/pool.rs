//! The device buffer pool: free buffers by power-of-two size class, and
//! dropped ones held until the device has finished the work that used them.

use std::collections::HashMap;

/// Buffers up to this size are pooled (larger ones are long-lived: the
/// reference, the index) in power-of-two size classes.
pub const POOL_MAX_BUFFER: u64 = 64 << 20;

/// Bytes the free lists may hold before they drop buffers.
pub const POOL_MAX_BYTES: u64 = 1 << 30;

/// Free device buffers by size class, and those waiting for the device.
///
/// Each quarantined buffer carries the stream epoch it was dropped in (the
/// epoch advances each time the open command stream is submitted); a wait
/// that followed the submission of epoch E frees those of epochs ≤ E only,
/// so another thread's work recorded since cannot lose its buffers.
#[derive(Default)]
pub struct Pool {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    quarantine: Vec<(u64, u64, wgpu::Buffer)>,
    free_bytes: u64,
    epoch: u64,
}

impl Pool {
    /// Close the current stream epoch; returns it.
    pub(crate) fn next_epoch(&mut self) -> u64 {
        self.epoch += 1;
        self.epoch - 1
    }

    /// All work of stream epochs up to `closed` has finished: buffers
    /// quarantined in those epochs are free.
    pub(crate) fn release(&mut self, closed: u64) {
        let (done, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.quarantine)
            .into_iter()
            .partition(|(e, _, _)| *e <= closed);
        self.quarantine = wait;
        for (_, size, b) in done {
            if self.free_bytes + size > POOL_MAX_BYTES {
                continue; // dropped: the pool is full
            }
            self.free_bytes += size;
            self.free.entry(size).or_default().push(b);
        }
    }

    /// A free buffer of size class `size`.
    pub(crate) fn take(&mut self, size: u64) -> Option<(wgpu::Buffer, u64)> {
        let b = self.free.get_mut(&size)?.pop()?;
        self.free_bytes -= size;
        Some((b, size))
    }

    /// A dropped buffer of size class `size`: free once the work recorded
    /// so far (this stream epoch) has finished.
    pub(crate) fn quarantine(&mut self, size: u64, b: wgpu::Buffer) {
        let e = self.epoch;
        self.quarantine.push((e, size, b));
    }

    /// Buffers waiting for the device, and free ones.
    pub fn sizes(&self) -> (usize, usize) {
        (
            self.quarantine.len(),
            self.free.values().map(Vec::len).sum(),
        )
    }
}
