//! Opening files (transparent gzip/BGZF) and recognising their format.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::error::{CrestError, Result};

/// A sequence file format crest reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// FASTA.
    Fasta,
    /// FASTQ.
    Fastq,
    /// SAM (text).
    Sam,
    /// BAM (BGZF-compressed binary).
    Bam,
    /// An empty file (no records).
    Empty,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// True for the path that names standard input (`-`).
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// True when `path` can be read twice (a regular file): pipes, FIFOs,
/// process substitution (`<(…)`, `/dev/fd/N`) and `-` can be read once only,
/// so they are never sniffed ahead of the real read.
pub fn rereadable(path: &Path) -> bool {
    !is_stdin(path) && std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// The raw bytes of `path` (`-`: standard input), opened once.
fn open_raw(path: &Path) -> Result<Box<dyn Read + Send>> {
    if is_stdin(path) {
        return Ok(Box::new(std::io::stdin()));
    }
    let f = File::open(path).map_err(|e| CrestError::io(path, e))?;
    Ok(Box::new(f))
}

/// Read up to `n` bytes of `r` and give them back in front of the rest: a
/// look ahead that works on pipes.
fn peek(
    path: &Path,
    mut r: Box<dyn Read + Send>,
    n: usize,
) -> Result<(Vec<u8>, Box<dyn Read + Send>)> {
    let mut head = vec![0u8; n];
    let k = read_up_to(&mut r, &mut head).map_err(|e| CrestError::io(path, e))?;
    head.truncate(k);
    let again = std::io::Cursor::new(head.clone()).chain(r);
    Ok((head, Box::new(again)))
}

/// An input opened once (a file, `-` for standard input, a FIFO or process
/// substitution), decompressed when gzip or BGZF, with its format told
/// from the first (decompressed) bytes. The reader starts at the beginning.
pub fn open_input(path: &Path) -> Result<(Box<dyn BufRead + Send>, Format)> {
    let (magic, raw) = peek(path, open_raw(path)?, 2)?;
    let text: Box<dyn Read + Send> = if magic == GZIP_MAGIC {
        Box::new(
            super::gz::CheckedGz::new(BufReader::with_capacity(1 << 16, raw), path)
                .warn_on_missing_eof(),
        )
    } else {
        raw
    };
    let (head, text) = peek(path, text, 4096)?;
    let format = classify(path, &head)?;
    Ok((Box::new(BufReader::with_capacity(1 << 16, text)), format))
}

/// Buffered reader over a file (`-`: standard input), decompressing gzip
/// and BGZF transparently. Decompression errors (e.g. a truncated .gz)
/// surface as I/O errors on read.
pub fn open_text(path: &Path) -> Result<Box<dyn BufRead + Send>> {
    let (magic, raw) = peek(path, open_raw(path)?, 2)?;
    if magic == GZIP_MAGIC {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            super::gz::CheckedGz::new(BufReader::with_capacity(1 << 16, raw), path)
                .warn_on_missing_eof(),
        )))
    } else {
        Ok(Box::new(BufReader::with_capacity(1 << 16, raw)))
    }
}

/// True when `path` is a regular file that does not end with BGZF's
/// end-of-file block (for a BAM: the file was probably cut at a block
/// boundary). Streams that cannot seek are not checked (false).
pub fn bgzf_eof_missing(path: &Path) -> Result<bool> {
    use std::io::{Seek, SeekFrom};
    let mut f = File::open(path).map_err(|e| CrestError::io(path, e))?;
    let md = f.metadata().map_err(|e| CrestError::io(path, e))?;
    if !md.is_file() {
        return Ok(false);
    }
    let eof = &super::gz::BGZF_EOF;
    if md.len() < eof.len() as u64 {
        return Ok(true);
    }
    f.seek(SeekFrom::End(-(eof.len() as i64)))
        .map_err(|e| CrestError::io(path, e))?;
    let mut tail = [0u8; 28];
    read_up_to(&mut f, &mut tail).map_err(|e| CrestError::io(path, e))?;
    Ok(&tail != eof)
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Recognise a file's format from its (decompressed) first bytes. It reads
/// the file: for a stream that can be read once only (see [`rereadable`])
/// use [`open_input`], which gives the format and the reader together.
pub fn detect_format(path: &Path) -> Result<Format> {
    let mut r = open_text(path)?;
    let head = r.fill_buf().map_err(|e| CrestError::io(path, e))?.to_vec();
    let head = if head.len() < 4096 {
        // fill_buf may return a short first chunk: read a little more.
        let mut buf = head;
        let mut more = vec![0u8; 4096 - buf.len()];
        let n = read_up_to(&mut r, &mut more).map_err(|e| CrestError::io(path, e))?;
        buf.extend_from_slice(&more[..n.saturating_sub(0)]);
        buf
    } else {
        head
    };
    classify(path, &head)
}

fn classify(path: &Path, head: &[u8]) -> Result<Format> {
    if head.starts_with(b"BAM\x01") {
        return Ok(Format::Bam);
    }
    let text = head.trim_ascii_start();
    if text.is_empty() {
        return Ok(Format::Empty);
    }
    let binary = head
        .iter()
        .take(1024)
        .any(|&b| b == 0 || (b < 0x09) || (0x0e..0x20).contains(&b));
    if binary {
        return Err(CrestError::UnknownFormat {
            path: path.into(),
            message: "binary data: not a FASTA, FASTQ, SAM or BAM file (nor gzip/BGZF of one)"
                .into(),
        });
    }
    match text[0] {
        b'>' => Ok(Format::Fasta),
        b'@' => {
            let is_sam_header = [b"@HD\t", b"@SQ\t", b"@RG\t", b"@PG\t", b"@CO\t"]
                .iter()
                .any(|p| text.starts_with(*p));
            Ok(if is_sam_header {
                Format::Sam
            } else {
                Format::Fastq
            })
        }
        _ => {
            let first_line = text.split(|&b| b == b'\n').next().unwrap_or(&[]);
            if first_line.split(|&b| b == b'\t').count() >= 11 {
                Ok(Format::Sam)
            } else {
                let shown: String =
                    String::from_utf8_lossy(&first_line[..first_line.len().min(40)]).into();
                Err(CrestError::UnknownFormat {
                    path: path.into(),
                    message: format!(
                        "not a FASTA ('>'), FASTQ ('@'), SAM or BAM file; it starts with {shown:?}"
                    ),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_heads() {
        let p = Path::new("x");
        assert_eq!(classify(p, b">chr1\nACGT\n").unwrap(), Format::Fasta);
        assert_eq!(classify(p, b"@r1\nACGT\n+\nIIII\n").unwrap(), Format::Fastq);
        assert_eq!(classify(p, b"@HD\tVN:1.6\n").unwrap(), Format::Sam);
        assert_eq!(
            classify(p, b"r\t4\t*\t0\t0\t*\t*\t0\t0\tAC\tII\n").unwrap(),
            Format::Sam
        );
        assert_eq!(classify(p, b"BAM\x01....").unwrap(), Format::Bam);
        assert_eq!(classify(p, b"\n\n").unwrap(), Format::Empty);
        assert!(classify(p, b"\x7fELF\x02\x01\x01\x00\x00").is_err());
        assert!(classify(p, b"hello world\n").is_err());
    }
}
