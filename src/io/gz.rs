//! A gzip reader that notices a cut file.
//!
//! flate2's multi-member decoder accepts a file whose last member lost its
//! trailer (CRC32 and length), and BGZF files cut at a block boundary are
//! valid gzip: both read as complete. [`CheckedGz`] decodes member by
//! member, checks every trailer against the data and, for BGZF input,
//! remembers whether the file ended with BGZF's empty end-of-file block.
//! A cut trailer or a CRC/length mismatch is an error on read; a missing
//! BGZF end-of-file block is reported by [`CheckedGz::bgzf_eof_missing`]
//! (samtools warns about it; crest warns, and `crest dedup` refuses).
//! Errors are `InvalidData`, never `UnexpectedEof`: record readers (noodles)
//! take an `UnexpectedEof` between records for a clean end of input.

use std::io::{self, BufRead, Read};
use std::path::PathBuf;

use flate2::bufread::DeflateDecoder;
use flate2::Crc;

/// BGZF's end-of-file marker: an empty BGZF block (SAM spec 4.1.2).
pub const BGZF_EOF: [u8; 28] = [
    0x1f, 0x8b, 0x08, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x06, 0x00, 0x42, 0x43, 0x02, 0x00,
    0x1b, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

enum State<R: BufRead> {
    /// Between members: the next bytes are a header or the end.
    Header(R),
    /// Inside a member's deflate stream.
    Body(Box<DeflateDecoder<R>>),
    /// Finished (or failed).
    Done,
}

/// A gzip (and BGZF) decoder that checks each member's trailer.
pub struct CheckedGz<R: BufRead> {
    state: State<R>,
    path: PathBuf,
    crc: Crc,
    members: u64,
    /// The current member has the BGZF `BC` extra field.
    member_bgzf: bool,
    /// Every member so far was BGZF.
    all_bgzf: bool,
    /// The last finished member was empty (BGZF's EOF block is one).
    last_empty: bool,
    /// Warn on stderr when BGZF input ends without its EOF block.
    warn: bool,
}

impl<R: BufRead> CheckedGz<R> {
    /// Decode `inner` (positioned at a gzip header); `path` names it in errors.
    pub fn new(inner: R, path: impl Into<PathBuf>) -> Self {
        CheckedGz {
            state: State::Header(inner),
            path: path.into(),
            crc: Crc::new(),
            members: 0,
            member_bgzf: false,
            all_bgzf: true,
            last_empty: false,
            warn: false,
        }
    }

    /// Print a warning on stderr if the input turns out to be BGZF without
    /// its end-of-file block (as samtools does).
    pub fn warn_on_missing_eof(mut self) -> Self {
        self.warn = true;
        self
    }

    /// True once the whole input was read, when it was BGZF and did not end
    /// with the BGZF end-of-file block (the file was probably cut at a block
    /// boundary).
    pub fn bgzf_eof_missing(&self) -> bool {
        matches!(self.state, State::Done) && self.members > 0 && self.all_bgzf && !self.last_empty
    }

    fn bad(&self, kind: io::ErrorKind, m: String) -> io::Error {
        io::Error::new(kind, format!("{}: {m}", self.path.display()))
    }

    /// Parse a member header; Ok(false) at a clean end of input.
    fn header(&mut self, r: &mut R) -> io::Result<bool> {
        if r.fill_buf()?.is_empty() {
            return Ok(false);
        }
        let mut fixed = [0u8; 10];
        read_exact_or(r, &mut fixed).map_err(|_| {
            self.bad(
                io::ErrorKind::InvalidData,
                format!(
                    "gzip member {} is cut short in its header: the file is truncated",
                    self.members + 1
                ),
            )
        })?;
        if fixed[0..2] != [0x1f, 0x8b] || fixed[2] != 8 {
            return Err(self.bad(
                io::ErrorKind::InvalidData,
                format!(
                    "bytes after gzip member {} are not a gzip member (trailing garbage or a damaged file)",
                    self.members
                ),
            ));
        }
        let flg = fixed[3];
        let cut = |s: &Self| {
            s.bad(
                io::ErrorKind::InvalidData,
                "a gzip header is cut short: the file is truncated".into(),
            )
        };
        self.member_bgzf = false;
        if flg & 0x04 != 0 {
            let mut xlen = [0u8; 2];
            read_exact_or(r, &mut xlen).map_err(|_| cut(self))?;
            let mut extra = vec![0u8; u16::from_le_bytes(xlen) as usize];
            read_exact_or(r, &mut extra).map_err(|_| cut(self))?;
            let mut i = 0;
            while i + 4 <= extra.len() {
                let len = u16::from_le_bytes([extra[i + 2], extra[i + 3]]) as usize;
                if extra[i] == b'B' && extra[i + 1] == b'C' {
                    self.member_bgzf = true;
                }
                i += 4 + len;
            }
        }
        for flag in [0x08u8, 0x10] {
            if flg & flag != 0 {
                // zero-terminated file name / comment
                loop {
                    let mut b = [0u8; 1];
                    read_exact_or(r, &mut b).map_err(|_| cut(self))?;
                    if b[0] == 0 {
                        break;
                    }
                }
            }
        }
        if flg & 0x02 != 0 {
            let mut hcrc = [0u8; 2];
            read_exact_or(r, &mut hcrc).map_err(|_| cut(self))?;
        }
        self.all_bgzf &= self.member_bgzf;
        self.crc.reset();
        Ok(true)
    }

    /// Check the trailer of the member just decoded.
    fn trailer(&mut self, r: &mut R) -> io::Result<()> {
        let mut t = [0u8; 8];
        read_exact_or(r, &mut t).map_err(|_| {
            self.bad(
                io::ErrorKind::InvalidData,
                format!(
                    "gzip member {} has no complete trailer (CRC and length): the file is truncated",
                    self.members + 1
                ),
            )
        })?;
        let crc = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
        let len = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
        if crc != self.crc.sum() || len != self.crc.amount() {
            return Err(self.bad(
                io::ErrorKind::InvalidData,
                format!(
                    "gzip member {} fails its CRC or length check: the file is damaged",
                    self.members + 1
                ),
            ));
        }
        self.members += 1;
        self.last_empty = self.crc.amount() == 0;
        Ok(())
    }
}

/// Like `read_exact`, but an error of its own for a short read.
fn read_exact_or(r: &mut impl Read, buf: &mut [u8]) -> io::Result<()> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl<R: BufRead> Read for CheckedGz<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match std::mem::replace(&mut self.state, State::Done) {
                State::Done => return Ok(0),
                State::Header(mut r) => {
                    if !self.header(&mut r)? {
                        if self.warn && self.bgzf_eof_missing() {
                            eprintln!(
                                "crest: warning: {}: no BGZF end-of-file block; the file may be truncated",
                                self.path.display()
                            );
                        }
                        return Ok(0);
                    }
                    self.state = State::Body(Box::new(DeflateDecoder::new(r)));
                }
                State::Body(mut d) => {
                    let n = match d.read(buf) {
                        Ok(n) => n,
                        Err(e) => {
                            // never UnexpectedEof: record readers take
                            // that for a clean end of input
                            return Err(self.bad(
                                io::ErrorKind::InvalidData,
                                format!("gzip member {}: {e}", self.members + 1),
                            ));
                        }
                    };
                    if n > 0 {
                        self.crc.update(&buf[..n]);
                        self.state = State::Body(d);
                        return Ok(n);
                    }
                    let mut r = d.into_inner();
                    self.trailer(&mut r)?;
                    self.state = State::Header(r);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn bgzf(data: &[u8], eof: bool) -> Vec<u8> {
        let mut w = noodles::bgzf::io::Writer::new(Vec::new());
        w.write_all(data).unwrap();
        let mut v = w.finish().unwrap();
        if !eof {
            assert!(v.ends_with(&BGZF_EOF));
            v.truncate(v.len() - BGZF_EOF.len());
        }
        v
    }

    fn decode(bytes: &[u8]) -> (io::Result<Vec<u8>>, bool) {
        let mut r = CheckedGz::new(io::BufReader::with_capacity(7, bytes), "t.gz");
        let mut out = Vec::new();
        let res = r.read_to_end(&mut out).map(|_| out);
        (res, r.bgzf_eof_missing())
    }

    #[test]
    fn whole_and_multi_member_gzip_decode() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut two = gz(&data[..1000]);
        two.extend(gz(&data[1000..]));
        for bytes in [gz(&data), two] {
            let (r, missing) = decode(&bytes);
            assert_eq!(r.unwrap(), data);
            assert!(!missing);
        }
        assert_eq!(decode(&[]).0.unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn every_cut_of_a_gzip_file_is_an_error() {
        let data = b"@r1\nACGT\n+\nIIII\n".repeat(40);
        let bytes = gz(&data);
        for cut in 1..bytes.len() {
            let (r, _) = decode(&bytes[..cut]);
            assert!(
                r.is_err(),
                "cut at {cut} of {} read as complete",
                bytes.len()
            );
        }
    }

    #[test]
    fn a_flipped_data_byte_fails_the_crc() {
        let data = b"ACGTACGTTTGA".repeat(100);
        let mut bytes = gz(&data);
        let n = bytes.len();
        bytes[n - 6] ^= 0x01; // inside the stored length
        assert!(decode(&bytes).0.is_err());
    }

    #[test]
    fn bgzf_without_its_eof_block_is_flagged() {
        let data = b"@r1\nACGT\n+\nIIII\n".repeat(5000);
        let (r, missing) = decode(&bgzf(&data, true));
        assert_eq!(r.unwrap(), data);
        assert!(!missing);
        let (r, missing) = decode(&bgzf(&data, false));
        assert_eq!(r.unwrap(), data);
        assert!(
            missing,
            "a BGZF file cut at a block boundary must be flagged"
        );
        // plain gzip is never flagged
        assert!(!decode(&gz(&data)).1);
    }

    #[test]
    fn garbage_after_a_member_is_an_error() {
        let mut bytes = gz(b"ACGT");
        bytes.extend_from_slice(b"garbage!!!");
        assert!(decode(&bytes).0.is_err());
    }
}
