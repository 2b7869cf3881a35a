//! Device buffers of 32-bit words (f32 or u32) and their transfers.

use std::sync::Arc;

use wgpu::util::DeviceExt;

use super::Gpu;
use crate::error::{CrestError, Result};

/// A storage buffer of `len` 32-bit words on the device.
#[derive(Clone, Debug)]
pub struct GpuBuf {
    /// The wgpu buffer (at least 4 bytes even when `len == 0`).
    pub buffer: Arc<wgpu::Buffer>,
    /// Number of 32-bit words.
    pub len: usize,
}

impl GpuBuf {
    /// Size in bytes of the data (not the allocation).
    pub fn bytes(&self) -> u64 {
        self.len as u64 * 4
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

    /// Upload 32-bit words (f32 or u32) to a new storage buffer.
    pub fn upload<T: bytemuck::Pod>(&self, label: &str, data: &[T]) -> Result<GpuBuf> {
        assert_eq!(std::mem::size_of::<T>(), 4, "GpuBuf holds 32-bit words");
        let bytes = (data.len() as u64 * 4).max(4);
        self.check_size(label, bytes)?;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buffer = if data.is_empty() {
            self.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents: &[0u8; 4],
                    usage: Self::usage(),
                })
        } else {
            self.device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(label),
                    contents: bytemuck::cast_slice(data),
                    usage: Self::usage(),
                })
        };
        self.oom(scope, label, bytes)?;
        Ok(GpuBuf {
            buffer: Arc::new(buffer),
            len: data.len(),
        })
    }

    /// A new buffer of `len` zero words.
    pub fn zeros(&self, label: &str, len: usize) -> Result<GpuBuf> {
        let bytes = (len as u64 * 4).max(4);
        self.check_size(label, bytes)?;
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage: Self::usage(),
            mapped_at_creation: false,
        });
        self.oom(scope, label, bytes)?;
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
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("copy"),
            });
        enc.copy_buffer_to_buffer(&src.buffer, 0, &dst.buffer, 0, words as u64 * 4);
        self.queue.submit([enc.finish()]);
        Ok(())
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
            self.queue
                .write_buffer(&buf.buffer, 0, bytemuck::cast_slice(data));
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
        assert_eq!(std::mem::size_of::<T>(), 4, "GpuBuf holds 32-bit words");
        if buf.len == 0 {
            return Ok(Vec::new());
        }
        let bytes = buf.bytes();
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("read"),
            });
        enc.copy_buffer_to_buffer(&buf.buffer, 0, &staging, 0, bytes);
        self.queue.submit([enc.finish()]);
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
        let out = bytemuck::cast_slice::<u8, T>(&view).to_vec();
        drop(view);
        staging.unmap();
        Ok(out)
    }
}
