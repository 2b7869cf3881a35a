//! Read-only bytes shared without copying: owned, or a window of a file
//! opened by memory map. Index files are mapped so that `crest map` starts
//! without reading hundreds of megabytes of codes into its own heap: the
//! pages come from the page cache as they are first touched and are shared
//! by every process that maps the same file.

use std::fmt;
use std::ops::{Deref, Range};
use std::path::Path;
use std::sync::Arc;

use crate::error::{CrestError, Result};

enum Store {
    Owned(Arc<Vec<u8>>),
    Mapped(Arc<memmap2::Mmap>),
}

/// Shared read-only bytes (cheap to clone; a slice keeps its file mapped).
#[derive(Clone)]
pub struct SharedBytes {
    store: Arc<Store>,
    range: Range<usize>,
}

impl SharedBytes {
    /// Map `path` read-only. A file that cannot be mapped (an empty file,
    /// a file system without mmap) is read into memory instead.
    ///
    /// crest writes its files to a temporary name and renames them, so a
    /// rewrite of a mapped index replaces the file rather than changing the
    /// mapped pages; another program truncating or editing the file in
    /// place while crest runs is outside what a mapping can guard against.
    pub fn map(path: &Path) -> Result<SharedBytes> {
        let file = std::fs::File::open(path).map_err(|e| CrestError::io(path, e))?;
        let len = file.metadata().map_err(|e| CrestError::io(path, e))?.len();
        if len > 0 {
            // SAFETY: the mapping is read-only and private to this process;
            // see the note above on files changed in place by others.
            if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
                let n = map.len();
                return Ok(SharedBytes {
                    store: Arc::new(Store::Mapped(Arc::new(map))),
                    range: 0..n,
                });
            }
        }
        let v = std::fs::read(path).map_err(|e| CrestError::io(path, e))?;
        Ok(SharedBytes::from(v))
    }

    /// Whether the bytes come from a memory-mapped file.
    pub fn is_mapped(&self) -> bool {
        matches!(*self.store, Store::Mapped(_))
    }

    /// A sub-range (relative to these bytes), sharing the same storage.
    ///
    /// # Panics
    /// Never for a range inside `0..self.len()`; a range outside panics,
    /// as slicing does.
    pub fn slice(&self, r: Range<usize>) -> SharedBytes {
        assert!(
            r.start <= r.end && r.end <= self.range.len(),
            "slice out of range"
        );
        SharedBytes {
            store: Arc::clone(&self.store),
            range: self.range.start + r.start..self.range.start + r.end,
        }
    }

    /// The offset of `inner` (a slice borrowed from these bytes) within
    /// them, or None when it lies elsewhere.
    pub fn offset_of(&self, inner: &[u8]) -> Option<Range<usize>> {
        let base = self.as_ptr() as usize;
        let p = inner.as_ptr() as usize;
        (p >= base && p + inner.len() <= base + self.len())
            .then(|| p - base..p - base + inner.len())
    }
}

impl From<Vec<u8>> for SharedBytes {
    fn from(v: Vec<u8>) -> SharedBytes {
        let n = v.len();
        SharedBytes {
            store: Arc::new(Store::Owned(Arc::new(v))),
            range: 0..n,
        }
    }
}

impl Deref for SharedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        let all: &[u8] = match &*self.store {
            Store::Owned(v) => v,
            Store::Mapped(m) => m,
        };
        &all[self.range.clone()]
    }
}

impl PartialEq for SharedBytes {
    fn eq(&self, other: &SharedBytes) -> bool {
        self[..] == other[..]
    }
}

impl fmt::Debug for SharedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SharedBytes({} bytes{})",
            self.len(),
            if self.is_mapped() { ", mapped" } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_file_reads_back_and_slices_share_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.bin");
        let data: Vec<u8> = (0..10_007u32).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(&p, &data).unwrap();
        let b = SharedBytes::map(&p).unwrap();
        assert!(b.is_mapped());
        assert_eq!(&b[..], &data[..]);
        let s = b.slice(1_000..2_003);
        assert_eq!(&s[..], &data[1_000..2_003]);
        let t = s.slice(3..10);
        assert_eq!(&t[..], &data[1_003..1_010]);
        assert_eq!(b.offset_of(&b[17..40]), Some(17..40));
        assert_eq!(b.offset_of(&data[..]), None);
        // an empty file is read, not mapped
        let e = dir.path().join("e.bin");
        std::fs::write(&e, b"").unwrap();
        let eb = SharedBytes::map(&e).unwrap();
        assert!(!eb.is_mapped());
        assert!(eb.is_empty());
        assert!(SharedBytes::map(&dir.path().join("missing")).is_err());
        assert_eq!(
            SharedBytes::from(vec![1, 2, 3]),
            SharedBytes::from(vec![1, 2, 3])
        );
    }
}
