//! Device buffers of 32-bit words (f32 or u32) and their transfers, from a
//! pool that reuses buffers across batches.
//!
//! A buffer whose last handle is dropped is not reused at once: the device
//! may still be running (or not yet have been sent) work that reads or
//! writes it. It waits in quarantine until the next [`Gpu::sync`] has seen
//! all recorded work finish, and only then goes back to the free lists. So
//! a pooled buffer never aliases live data, and an upload into a reused
//! buffer (`queue.write_buffer`, which lands before the next submission)
//! cannot change what earlier recorded work sees.

use std::ops::Deref;
use std::sync::{Arc, Mutex};

use wgpu::util::DeviceExt;

use super::context::Counters;
use super::Gpu;
use crate::error::{CrestError, Result};

pub use super::pool::{Pool, POOL_MAX_BUFFER};

/// A device buffer that goes back to its pool when dropped.
#[derive(Debug)]
pub struct PooledBuffer {
    buffer: Option<wgpu::Buffer>,
    size: u64,
    pool: Option<std::sync::Weak<Mutex<Pool>>>,
}

impl Deref for PooledBuffer {
    type Target = wgpu::Buffer;
    fn deref(&self) -> &wgpu::Buffer {
        self.buffer.as_ref().expect("buffer present until drop")
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        if let (Some(b), Some(pool)) = (self.buffer.take(), self.pool.as_ref()) {
            if let Some(pool) = pool.upgrade() {
                if let Ok(mut p) = pool.lock() {
                    p.quarantine(self.size, b);
                }
            }
        }
    }
}

/// A storage buffer of `len` 32-bit words on the device.
#[derive(Clone, Debug)]
pub struct GpuBuf {
    /// The wgpu buffer (at least 4 bytes even when `len == 0`; a pooled
    /// buffer may be larger than `len` words: bind it by [`GpuBuf::bytes`]).
    pub buffer: Arc<PooledBuffer>,
    /// Number of 32-bit words.
    pub len: usize,
}

impl GpuBuf {
    /// Size in bytes of the data (not the allocation).
    pub fn bytes(&self) -> u64 {
        self.len as u64 * 4
    }

    /// The buffer bound over its data only (not the whole allocation).
    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: 0,
            size: std::num::NonZeroU64::new(self.bytes().max(4)),
        })
    }
}

/// Bit pattern written to output buffers before a test, so that a kernel that
/// skips an element is caught (a quiet NaN with a recognisable payload).
pub const POISON: u32 = 0x7FC0_DEAD;

impl Gpu {
    fn check_size(&self, what: &str, bytes: u64) -> Result<()> {
        let max = self.limits.max_buffer_size;
        if bytes > max {
            return Err(CrestError::Limit {
                what: format!("buffer for {what}"),
                needs: bytes,
                gives: max,
                adapter: self.summary.name.clone(),
            });
        }
        Ok(())
    }

    fn usage() -> wgpu::BufferUsages {
        wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::UNIFORM
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST
    }

    /// A device buffer of at least `bytes` (4 at least): a free pooled one
    /// of its size class, else a new one. Returns it and whether it is new.
    fn acquire(&self, label: &str, bytes: u64) -> Result<(PooledBuffer, bool)> {
        let bytes = bytes.max(4);
        self.check_size(label, bytes)?;
        let pooled = bytes <= POOL_MAX_BUFFER;
        let size = if pooled {
            bytes.next_power_of_two().max(256)
        } else {
            bytes.next_multiple_of(4)
        };
        if pooled {
            if let Some((b, size)) = self.pool.lock().expect("buffer pool poisoned").take(size) {
                return Ok((
                    PooledBuffer {
                        buffer: Some(b),
                        size,
                        pool: Some(Arc::downgrade(&self.pool)),
                    },
                    false,
                ));
            }
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: Self::usage(),
            mapped_at_creation: false,
        });
        self.oom(scope, label, size)?;
        Counters::add(&self.counters_ref().buffers_created, 1);
        Ok((
            PooledBuffer {
                buffer: Some(buffer),
                size,
                pool: pooled.then(|| Arc::downgrade(&self.pool)),
            },
            true,
        ))
    }

    /// Buffers of the pool waiting for the device, and free ones.
    pub fn pool_sizes(&self) -> (usize, usize) {
        self.pool.lock().expect("buffer pool poisoned").sizes()
    }

    /// As [`Gpu::upload`], into a pooled buffer of at least `min_words`
    /// (for data whose size wanders from call to call, such as scan plans:
    /// one size class serves them all, so nothing is created per batch).
    pub fn upload_sized<T: bytemuck::Pod>(
        &self,
        label: &str,
        data: &[T],
        min_words: usize,
    ) -> Result<GpuBuf> {
        assert_eq!(std::mem::size_of::<T>(), 4, "GpuBuf holds 32-bit words");
        let alloc = data.len().max(min_words) as u64 * 4;
        if alloc > POOL_MAX_BUFFER || data.is_empty() {
            return self.upload(label, data);
        }
        let (buffer, _) = self.acquire(label, alloc)?;
        // a fresh or quarantine-cleared buffer: nothing recorded uses it
        self.queue
            .write_buffer(&buffer, 0, bytemuck::cast_slice(data));
        Counters::add(&self.counters_ref().bytes_up, data.len() as u64 * 4);
        Ok(GpuBuf {
            buffer: Arc::new(buffer),
            len: data.len(),
        })
    }

    /// Upload 32-bit words (f32 or u32) to a storage buffer (from the pool).
    pub fn upload<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> Result<GpuBuf> {
        assert_eq!(std::mem::size_of::<T>(), 4, "GpuBuf holds 32-bit words");
        let bytes = data.len() as u64 * 4;
        if bytes > POOL_MAX_BUFFER {
            // large and long-lived: written at creation
            self.check_size(label, bytes)?;
            let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
            let buffer = self
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents: bytemuck::cast_slice(data),
                    usage: Self::usage(),
                });
            self.oom(scope, label, bytes)?;
            Counters::add(&self.counters_ref().buffers_created, 1);
            Counters::add(&self.counters_ref().bytes_up, bytes);
            return Ok(GpuBuf {
                buffer: Arc::new(PooledBuffer {
                    buffer: Some(buffer),
                    size: bytes,
                    pool: None,
                }),
                len: data.len(),
            });
        }
        let (buffer, _) = self.acquire(label, bytes)?;
        if !data.is_empty() {
            // a fresh or quarantine-cleared buffer: nothing recorded uses it
            self.queue
                .write_buffer(&buffer, 0, bytemuck::cast_slice(data));
            Counters::add(&self.counters_ref().bytes_up, bytes);
        }
        Ok(GpuBuf {
            buffer: Arc::new(buffer),
            len: data.len(),
        })
    }

    /// A buffer of `len` zero words (a reused one is cleared on the device,
    /// in order with the work recorded before it).
    pub fn zeros(&self, label: &str, len: usize) -> Result<GpuBuf> {
        let (buffer, new) = self.acquire(label, len as u64 * 4)?;
        if !new {
            self.record("clear", 0, |enc| enc.clear_buffer(&buffer, 0, None))?;
        }
        Ok(GpuBuf {
            buffer: Arc::new(buffer),
            len,
        })
    }

    /// Copy the first `words` words of `src` to the start of `dst`, on the device.
    pub fn copy_into(&self, src: &GpuBuf, dst: &GpuBuf, words: usize) -> Result<()> {
        if words > src.len || words > dst.len {
            return Err(CrestError::shape(
                "copy",
                format!("{words} words from {} into {}", src.len, dst.len),
            ));
        }
        if words == 0 {
            return Ok(());
        }
        self.record("copy", 0, |enc| {
            enc.copy_buffer_to_buffer(&src.buffer, 0, &dst.buffer, 0, words as u64 * 4)
        })
    }

    /// Copy `words` words of `src` from word `src_at` into `dst` at word
    /// `dst_at`, on the device (recorded into the open stream; nothing
    /// waits).
    pub fn copy_range(
        &self,
        src: &GpuBuf,
        src_at: usize,
        dst: &GpuBuf,
        dst_at: usize,
        words: usize,
    ) -> Result<()> {
        if src_at + words > src.len || dst_at + words > dst.len {
            return Err(CrestError::shape(
                "copy",
                format!(
                    "{words} words from {src_at} of {} into {dst_at} of {}",
                    src.len, dst.len
                ),
            ));
        }
        if words == 0 {
            return Ok(());
        }
        self.record("copy", 0, |enc| {
            enc.copy_buffer_to_buffer(
                &src.buffer,
                src_at as u64 * 4,
                &dst.buffer,
                dst_at as u64 * 4,
                words as u64 * 4,
            )
        })
    }

    /// A new buffer of `len` words filled with [`POISON`].
    pub fn poisoned(&self, label: &str, len: usize) -> Result<GpuBuf> {
        self.upload(label, &vec![POISON; len])
    }

    /// Overwrite the start of `buf` with `data`.
    pub fn write<T: bytemuck::Pod>(&self, buf: &GpuBuf, data: &[T]) -> Result<()> {
        if data.len() > buf.len {
            return Err(CrestError::shape(
                "write",
                format!("{} words into a buffer of {}", data.len(), buf.len),
            ));
        }
        if !data.is_empty() {
            // the write lands before the next submission: submit what was
            // recorded before it first, so that earlier work sees the old data
            self.flush()?;
            self.queue
                .write_buffer(&buf.buffer, 0, bytemuck::cast_slice(data));
            Counters::add(&self.counters_ref().bytes_up, data.len() as u64 * 4);
        }
        Ok(())
    }

    fn oom(&self, scope: wgpu::ErrorScopeGuard, label: &str, bytes: u64) -> Result<()> {
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(CrestError::Gpu {
                op: format!("allocating {bytes} bytes for {label}"),
                message: e.to_string(),
            });
        }
        Ok(())
    }

    /// Copy a buffer back to the host as 32-bit words.
    pub fn read<T: bytemuck::Pod>(&self, buf: &GpuBuf) -> Result<Vec<T>> {
        self.read_prefix(buf, buf.len)
    }

    /// Copy the first `words` words of a buffer back to the host.
    pub fn read_prefix<T: bytemuck::Pod>(&self, buf: &GpuBuf, words: usize) -> Result<Vec<T>> {
        assert_eq!(std::mem::size_of::<T>(), 4, "GpuBuf holds 32-bit words");
        if words > buf.len {
            return Err(CrestError::shape(
                "read",
                format!("{words} words of a buffer of {}", buf.len),
            ));
        }
        if words == 0 {
            return Ok(Vec::new());
        }
        let bytes = words as u64 * 4;
        let staging = self.staging(bytes)?;
        self.record("read", 0, |enc| {
            enc.copy_buffer_to_buffer(&buf.buffer, 0, &staging, 0, bytes)
        })?;
        self.flush()?;
        Counters::add(&self.counters_ref().bytes_down, bytes);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.sync()?;
        rx.recv()
            .map_err(|e| CrestError::Gpu {
                op: "readback".into(),
                message: e.to_string(),
            })?
            .map_err(|e| CrestError::Gpu {
                op: "readback".into(),
                message: e.to_string(),
            })?;
        let view = staging.get_mapped_range(..).map_err(|e| CrestError::Gpu {
            op: "readback".into(),
            message: e.to_string(),
        })?;
        let out = bytemuck::cast_slice::<u8, T>(&view[..bytes as usize]).to_vec();
        drop(view);
        staging.unmap();
        self.staging_back(staging);
        Ok(out)
    }

    /// A read-back buffer of at least `bytes`: a free one of its size class
    /// (the read that used it waited for the device), else a new one.
    fn staging(&self, bytes: u64) -> Result<wgpu::Buffer> {
        let size = bytes.next_power_of_two().max(256);
        if let Some(b) = self
            .staging_pool
            .lock()
            .expect("staging pool poisoned")
            .get_mut(&size)
            .and_then(Vec::pop)
        {
            return Ok(b);
        }
        Counters::add(&self.counters_ref().buffers_created, 1);
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }))
    }

    fn staging_back(&self, b: wgpu::Buffer) {
        if b.size() <= POOL_MAX_BUFFER {
            if let Ok(mut p) = self.staging_pool.lock() {
                let v = p.entry(b.size()).or_default();
                if v.len() < 4 {
                    v.push(b);
                }
            }
        }
    }
}
