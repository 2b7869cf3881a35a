//! Coordinate sorting of alignment records in bounded memory.
//!
//! Records are held in memory up to a byte budget; when the budget is
//! exceeded the held records are sorted and spilled to a run file (BGZF, fast
//! compression) in a scratch folder. [`Sorter::drain`] merges the runs and the
//! records still in memory with a k-way heap merge (runs are first merged in
//! groups of [`MAX_OPEN_RUNS`] when there are more), so memory stays at about
//! the budget plus one record per run whatever the input size.
//!
//! The order is samtools' coordinate order: contig index, then leftmost
//! position, then forward before reverse strand; records without a position
//! (unmapped) come last. Ties keep input order, so the output is
//! deterministic for a given input.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use noodles::bgzf;

use super::sam::{SamRecord, TagValue};
use crate::error::{CrestError, Result};

/// Most run files open at once during a merge.
pub const MAX_OPEN_RUNS: usize = 64;

/// Default memory budget for records held in memory (as samtools sort -m).
pub const DEFAULT_MEMORY: usize = 768 << 20;

/// Where a record sorts: (contig, position, reverse strand, input order).
type Key = (u32, u64, bool, u64);

fn key(r: &SamRecord, order: u64) -> Key {
    match (r.contig, r.pos) {
        (Some(c), Some(p)) => (c as u32, p as u64, r.is_reverse(), order),
        _ => (u32::MAX, u64::MAX, false, order),
    }
}

/// Bytes a held record takes, roughly (the struct and its heap parts).
fn footprint(r: &SamRecord) -> usize {
    std::mem::size_of::<(Key, SamRecord)>()
        + r.name.len()
        + r.seq.len()
        + r.qual.len()
        + r.cigar.len() * std::mem::size_of::<(u8, u32)>()
        + r.md.as_ref().map_or(0, |m| m.len())
        + r.rg.as_ref().map_or(0, |m| m.len())
        + r.tags.len() * 16
        + 64
}

/// Options of a coordinate sort.
#[derive(Clone, Debug)]
pub struct SortOptions {
    /// Memory budget in bytes for held records before a run is spilled.
    pub memory: usize,
    /// Folder for the scratch folder of run files.
    pub tmp_dir: PathBuf,
}

impl SortOptions {
    /// Refuse a run folder that does not exist or is not a folder (before any
    /// work starts).
    pub fn check(&self) -> Result<()> {
        let md = std::fs::metadata(&self.tmp_dir).map_err(|e| CrestError::io(&self.tmp_dir, e))?;
        if !md.is_dir() {
            return Err(CrestError::Invalid(format!(
                "{}: the folder for sort run files is not a folder",
                self.tmp_dir.display()
            )));
        }
        crate::io::output::check_writable_dir(&self.tmp_dir, "--tmp-dir")
    }
}

/// A coordinate sort in progress: [`Sorter::push`] records, then
/// [`Sorter::drain`] them in order. The scratch folder is removed when the
/// sorter is dropped and on a fatal signal.
pub struct Sorter {
    opts: SortOptions,
    held: Vec<(Key, SamRecord)>,
    held_bytes: usize,
    runs: Vec<PathBuf>,
    scratch: Option<PathBuf>,
    run_files: u64,
    next: u64,
}

impl Sorter {
    /// A new, empty sort. Nothing is created on disk until the first spill;
    /// the scratch folder's parent is checked now, so a bad `tmp_dir` fails
    /// before any work.
    pub fn new(opts: SortOptions) -> Result<Sorter> {
        opts.check()?;
        Ok(Sorter {
            opts,
            held: Vec::new(),
            held_bytes: 0,
            runs: Vec::new(),
            scratch: None,
            run_files: 0,
            next: 0,
        })
    }

    /// Run files written so far.
    pub fn runs(&self) -> usize {
        self.runs.len()
    }

    /// Add a record; spills a sorted run when the memory budget is exceeded.
    pub fn push(&mut self, r: SamRecord) -> Result<()> {
        let k = key(&r, self.next);
        self.next += 1;
        self.held_bytes += footprint(&r);
        self.held.push((k, r));
        if self.held_bytes > self.opts.memory {
            self.spill()?;
        }
        Ok(())
    }

    fn scratch_dir(&mut self) -> Result<PathBuf> {
        if let Some(d) = &self.scratch {
            return Ok(d.clone());
        }
        let d = self
            .opts
            .tmp_dir
            .join(format!(".crest-sort-{}-{}", std::process::id(), unique()));
        std::fs::create_dir(&d).map_err(|e| CrestError::io(&d, e))?;
        super::output::remove_on_signal(&d);
        self.scratch = Some(d.clone());
        Ok(d)
    }

    fn new_run_path(&mut self) -> Result<PathBuf> {
        let d = self.scratch_dir()?;
        self.run_files += 1;
        Ok(d.join(format!("run-{:06}.bgz", self.run_files)))
    }

    fn spill(&mut self) -> Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        self.held.sort_unstable_by_key(|(k, _)| *k);
        let path = self.new_run_path()?;
        let mut w = RunWriter::create(&path)?;
        for (k, r) in self.held.drain(..) {
            w.write(&k, &r)?;
        }
        w.finish()?;
        self.held_bytes = 0;
        self.runs.push(path);
        Ok(())
    }

    /// Hand every record to `sink` in coordinate order, merging the runs.
    pub fn drain(mut self, mut sink: impl FnMut(SamRecord) -> Result<()>) -> Result<()> {
        self.held.sort_unstable_by_key(|(k, _)| *k);
        if self.runs.is_empty() {
            for (_, r) in std::mem::take(&mut self.held) {
                sink(r)?;
            }
            return Ok(());
        }
        // Bring the runs down to what can be open at once (the held records
        // are one more source below).
        while self.runs.len() > MAX_OPEN_RUNS - 1 {
            let group: Vec<PathBuf> = self.runs.drain(..MAX_OPEN_RUNS).collect();
            let path = self.new_run_path()?;
            let mut w = RunWriter::create(&path)?;
            merge(&group, Vec::new(), |k, r| w.write(&k, &r))?;
            w.finish()?;
            for p in &group {
                let _ = std::fs::remove_file(p);
            }
            self.runs.push(path);
        }
        let held = std::mem::take(&mut self.held);
        merge(&self.runs, held, |_, r| sink(r))
    }
}

impl Drop for Sorter {
    fn drop(&mut self) {
        if let Some(d) = self.scratch.take() {
            let _ = std::fs::remove_dir_all(&d);
            super::output::forget_on_signal(&d);
        }
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Merge sorted runs and one sorted in-memory list, in key order.
fn merge(
    runs: &[PathBuf],
    held: Vec<(Key, SamRecord)>,
    mut sink: impl FnMut(Key, SamRecord) -> Result<()>,
) -> Result<()> {
    let mut readers = runs
        .iter()
        .map(|p| RunReader::open(p))
        .collect::<Result<Vec<_>>>()?;
    let mut held = held.into_iter();
    let mut heads: Vec<Option<(Key, SamRecord)>> = Vec::with_capacity(readers.len() + 1);
    let mut heap = BinaryHeap::new();
    for (i, r) in readers.iter_mut().enumerate() {
        let next = r.next()?;
        if let Some((k, _)) = &next {
            heap.push(Reverse((*k, i)));
        }
        heads.push(next);
    }
    let mem = readers.len();
    let first = held.next();
    if let Some((k, _)) = &first {
        heap.push(Reverse((*k, mem)));
    }
    heads.push(first);
    while let Some(Reverse((_, i))) = heap.pop() {
        let (k, rec) = heads[i].take().expect("heap entry without a record");
        let next = if i == mem {
            held.next()
        } else {
            readers[i].next()?
        };
        if let Some((nk, _)) = &next {
            heap.push(Reverse((*nk, i)));
        }
        heads[i] = next;
        sink(k, rec)?;
    }
    Ok(())
}

struct RunWriter {
    path: PathBuf,
    w: bgzf::io::Writer<BufWriter<File>>,
    buf: Vec<u8>,
}

impl RunWriter {
    fn create(path: &Path) -> Result<RunWriter> {
        let f = File::create(path).map_err(|e| CrestError::io(path, e))?;
        let w = bgzf::io::writer::Builder::default()
            .set_compression_level(bgzf::io::writer::CompressionLevel::FAST)
            .build_from_writer(BufWriter::with_capacity(1 << 20, f));
        Ok(RunWriter {
            path: path.to_path_buf(),
            w,
            buf: Vec::new(),
        })
    }

    fn write(&mut self, k: &Key, r: &SamRecord) -> Result<()> {
        self.buf.clear();
        encode(k, r, &mut self.buf);
        let len = (self.buf.len() as u32).to_le_bytes();
        self.w
            .write_all(&len)
            .and_then(|_| self.w.write_all(&self.buf))
            .map_err(|e| CrestError::io(&self.path, e))
    }

    fn finish(mut self) -> Result<()> {
        self.w
            .try_finish()
            .map_err(|e| CrestError::io(&self.path, e))?;
        let mut inner = self.w.into_inner();
        inner.flush().map_err(|e| CrestError::io(&self.path, e))
    }
}

struct RunReader {
    path: PathBuf,
    r: bgzf::io::Reader<BufReader<File>>,
    buf: Vec<u8>,
}

impl RunReader {
    fn open(path: &Path) -> Result<RunReader> {
        let f = File::open(path).map_err(|e| CrestError::io(path, e))?;
        Ok(RunReader {
            path: path.to_path_buf(),
            r: bgzf::io::Reader::new(BufReader::with_capacity(1 << 16, f)),
            buf: Vec::new(),
        })
    }

    fn next(&mut self) -> Result<Option<(Key, SamRecord)>> {
        let mut len = [0u8; 4];
        match self.r.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(CrestError::io(&self.path, e)),
        }
        self.buf.resize(u32::from_le_bytes(len) as usize, 0);
        self.r
            .read_exact(&mut self.buf)
            .map_err(|e| CrestError::io(&self.path, e))?;
        decode(&self.buf).map(Some).ok_or_else(|| {
            CrestError::io(
                &self.path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, "corrupt sort run record"),
            )
        })
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// Serialise a keyed record (run file layout; private to this module).
fn encode(k: &Key, r: &SamRecord, out: &mut Vec<u8>) {
    out.extend_from_slice(&k.0.to_le_bytes());
    out.extend_from_slice(&k.1.to_le_bytes());
    out.push(k.2 as u8);
    out.extend_from_slice(&k.3.to_le_bytes());
    put_bytes(out, r.name.as_bytes());
    out.extend_from_slice(&r.flag.to_le_bytes());
    out.extend_from_slice(&r.contig.map_or(u64::MAX, |c| c as u64).to_le_bytes());
    out.extend_from_slice(&r.pos.map_or(u64::MAX, |p| p as u64).to_le_bytes());
    out.push(r.mapq);
    out.extend_from_slice(&(r.cigar.len() as u32).to_le_bytes());
    for &(op, n) in &r.cigar {
        out.push(op);
        out.extend_from_slice(&n.to_le_bytes());
    }
    put_bytes(out, &r.seq);
    put_bytes(out, &r.qual);
    match r.nm {
        Some(nm) => {
            out.push(1);
            out.extend_from_slice(&nm.to_le_bytes());
        }
        None => out.push(0),
    }
    for t in [&r.md, &r.rg] {
        match t {
            Some(v) => {
                out.push(1);
                put_bytes(out, v.as_bytes());
            }
            None => out.push(0),
        }
    }
    out.extend_from_slice(&(r.tags.len() as u32).to_le_bytes());
    for (tag, v) in &r.tags {
        out.extend_from_slice(tag);
        match v {
            TagValue::Char(c) => {
                out.push(b'A');
                out.push(*c);
            }
            TagValue::Int(i) => {
                out.push(b'i');
                out.extend_from_slice(&i.to_le_bytes());
            }
            TagValue::Str(s) => {
                out.push(b'Z');
                put_bytes(out, s.as_bytes());
            }
        }
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = self.u32()? as usize;
        self.take(n).map(|b| b.to_vec())
    }
}

fn decode(b: &[u8]) -> Option<(Key, SamRecord)> {
    let mut c = Cursor(b);
    let k = (c.u32()?, c.u64()?, c.u8()? != 0, c.u64()?);
    let name = String::from_utf8(c.bytes()?).ok()?;
    let flag = c.u16()?;
    let contig = Some(c.u64()?)
        .filter(|&v| v != u64::MAX)
        .map(|v| v as usize);
    let pos = Some(c.u64()?)
        .filter(|&v| v != u64::MAX)
        .map(|v| v as usize);
    let mapq = c.u8()?;
    let n = c.u32()? as usize;
    let mut cigar = Vec::with_capacity(n);
    for _ in 0..n {
        cigar.push((c.u8()?, c.u32()?));
    }
    let seq = c.bytes()?;
    let qual = c.bytes()?;
    let nm = match c.u8()? {
        0 => None,
        _ => Some(c.u32()? as i32),
    };
    let md = match c.u8()? {
        0 => None,
        _ => Some(String::from_utf8(c.bytes()?).ok()?),
    };
    let rg = match c.u8()? {
        0 => None,
        _ => Some(String::from_utf8(c.bytes()?).ok()?),
    };
    let ntags = c.u32()? as usize;
    let mut tags = Vec::with_capacity(ntags.min(64));
    for _ in 0..ntags {
        let t = c.take(2)?;
        let tag = [t[0], t[1]];
        let v = match c.u8()? {
            b'A' => TagValue::Char(c.u8()?),
            b'i' => TagValue::Int(c.u32()? as i32),
            b'Z' => TagValue::Str(String::from_utf8(c.bytes()?).ok()?),
            _ => return None,
        };
        tags.push((tag, v));
    }
    if !c.0.is_empty() {
        return None;
    }
    Some((
        k,
        SamRecord {
            name,
            flag,
            contig,
            pos,
            mapq,
            cigar,
            seq,
            qual,
            nm,
            md,
            rg,
            tags,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: u64, contig: Option<usize>, pos: Option<usize>, rev: bool) -> SamRecord {
        SamRecord {
            name: format!("r{i}"),
            flag: if contig.is_none() {
                4
            } else if rev {
                16
            } else {
                0
            },
            contig,
            pos,
            mapq: (i % 61) as u8,
            cigar: if contig.is_some() {
                vec![(b'M', 20), (b'I', 1), (b'M', 9)]
            } else {
                vec![]
            },
            seq: b"ACGTACGTACGTACGTACGTACGTACGTAC".to_vec(),
            qual: vec![b'I'; 30],
            nm: contig.map(|_| (i % 3) as i32),
            md: contig.map(|_| "29".to_string()),
            // some with a read group, so that run files carry it
            rg: i.is_multiple_of(2).then(|| format!("lib{}", i % 5)),
            tags: Vec::new(),
        }
    }

    fn inputs(n: u64) -> Vec<SamRecord> {
        let mut rng = crate::rng::Rng::new(7);
        (0..n)
            .map(|i| {
                if rng.below(10) == 0 {
                    rec(i, None, None, false)
                } else {
                    let c = rng.below(3) as usize;
                    rec(i, Some(c), Some(rng.below(500) as usize), rng.below(2) == 1)
                }
            })
            .collect()
    }

    fn sorted_by_twin(v: &[SamRecord]) -> Vec<SamRecord> {
        let mut keyed: Vec<(Key, SamRecord)> = v
            .iter()
            .enumerate()
            .map(|(i, r)| (key(r, i as u64), r.clone()))
            .collect();
        keyed.sort_by_key(|(k, _)| *k);
        keyed.into_iter().map(|(_, r)| r).collect()
    }

    fn run_sort(v: &[SamRecord], memory: usize) -> (Vec<SamRecord>, usize) {
        let dir = std::env::temp_dir();
        let mut s = Sorter::new(SortOptions {
            memory,
            tmp_dir: dir,
        })
        .unwrap();
        for r in v {
            s.push(r.clone()).unwrap();
        }
        let runs = s.runs();
        let scratch = s.scratch.clone();
        let mut out = Vec::new();
        s.drain(|r| {
            out.push(r);
            Ok(())
        })
        .unwrap();
        if let Some(d) = scratch {
            assert!(!d.exists(), "scratch folder left behind");
        }
        (out, runs)
    }

    #[test]
    fn in_memory_and_spilled_sorts_agree_with_a_plain_stable_sort() {
        let v = inputs(3001);
        let want = sorted_by_twin(&v);
        let (mem, runs0) = run_sort(&v, usize::MAX);
        assert_eq!(runs0, 0);
        assert_eq!(mem, want);
        // ~40 records per run: many runs, and more than MAX_OPEN_RUNS so the
        // intermediate merge level is exercised too.
        let (disk, runs) = run_sort(&v, 40 * footprint(&v[1]));
        assert!(runs > MAX_OPEN_RUNS, "only {runs} runs");
        assert_eq!(disk, want);
    }

    #[test]
    fn run_records_round_trip() {
        for r in inputs(50) {
            let k = key(&r, 9);
            let mut b = Vec::new();
            encode(&k, &r, &mut b);
            assert_eq!(decode(&b), Some((k, r.clone())));
            assert_eq!(decode(&b[..b.len() - 1]), None);
        }
    }

    #[test]
    fn unmapped_last_and_reverse_after_forward() {
        let v = vec![
            rec(0, None, None, false),
            rec(1, Some(1), Some(5), true),
            rec(2, Some(1), Some(5), false),
            rec(3, Some(0), Some(9), false),
        ];
        let (out, _) = run_sort(&v, usize::MAX);
        let names: Vec<&str> = out.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["r3", "r2", "r1", "r0"]);
    }
}
