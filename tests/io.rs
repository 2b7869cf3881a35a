//! Reading every test data file (counts equal samtools/zcat counts) and the
//! malformed-input cases: one clear error naming file and record, no panic.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use crest::io::{Format, Output, ReadReader, Reference, SamFormat, SamRecord, SamWriter, Target};
use crest::stats::file_stats;

/// A test data file: `tests/data/` (real reads and alignments, present in
/// every clone) or `assets/` (the bundled genomes).
fn shared(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let p = ["tests/data", "assets"]
        .iter()
        .map(|d| root.join(d).join(name))
        .find(|p| p.is_file());
    p.unwrap_or_else(|| panic!("{name} is in neither tests/data nor assets"))
}

/// Expected (records, bases), measured with `zcat F | wc -l` / 4 and
/// `samtools view -c -F 0x900` / `grep -c '>'` on 2026-11-21 (the same
/// files as ../shared/data; the larger genomes and read sets there are
/// read by the benchmarks).
const COUNTS: &[(&str, u64, u64)] = &[
    ("human_chrM.fa", 1, 16_569),
    ("lambda_phage.fa", 1, 48_502),
    ("mammoth_chrM.fa", 1, 16_770),
    ("phix174.fa", 1, 5_386),
    ("mammoth_JK2782_merged.fq.gz", 9_892, 736_954),
    ("mammoth_JK2782_raw_R1.fq.gz", 10_000, 1_250_000),
    ("mammoth_JK2782_raw_R2.fq.gz", 10_000, 1_250_000),
    ("mammoth_JK2782_merged.bwa_aln.bam", 9_892, 736_954),
];

#[test]
fn every_test_data_file_reads_with_the_right_counts() {
    for &(name, records, bases) in COUNTS {
        let s = file_stats(&shared(name), name.contains(".fa")).unwrap();
        assert_eq!((s.records, s.bases), (records, bases), "{name}");
    }
}

#[test]
fn samtools_agrees_on_the_bam_when_present() {
    // Cross-check the constant above against samtools itself where installed (CI installs it).
    let Ok(out) = std::process::Command::new("samtools")
        .args(["view", "-c", "-F", "0x900"])
        .arg(shared("mammoth_JK2782_merged.bwa_aln.bam"))
        .output()
    else {
        eprintln!("samtools not installed: cross-check skipped");
        return;
    };
    let n: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    let s = file_stats(&shared("mammoth_JK2782_merged.bwa_aln.bam"), false).unwrap();
    assert_eq!(s.records, n);
}

#[test]
fn reference_md5_matches_sam_m5() {
    // Values from `samtools dict` (sequence MD5 of the upper-cased bases, IUPAC kept).
    let r = Reference::load(&shared("human_chrM.fa")).unwrap();
    assert_eq!(r.contigs[0].md5, "c68f52674c9fb33aef52dcf399755519");
    assert_eq!(r.contigs[0].name, "NC_012920.1");
    assert_eq!(r.contigs[0].seq[3106], b'N');
    let r = Reference::load(&shared("mammoth_chrM.fa")).unwrap();
    assert_eq!(r.contigs[0].md5, "df0ebdb454bf6ff2b693cf31972be6ee");
}

#[test]
fn bam_reads_are_restored_to_original_orientation() {
    // The BAM holds the merged FASTQ's reads (same names; some reads differ in
    // a base or in length, the BAM came from another clipping/collapse run).
    // Reverse-strand records must be reverse-complemented back: then nearly
    // all reads are identical, whereas a wrong orientation would break the
    // ~half of mapped reads that lie on the reverse strand.
    // Unmerged pairs keep both mates under one name: a name maps to several reads.
    type Mates = Vec<(Vec<u8>, Vec<u8>)>;
    let mut fq: std::collections::HashMap<String, Mates> = Default::default();
    for r in ReadReader::open(&shared("mammoth_JK2782_merged.fq.gz")).unwrap() {
        let r = r.unwrap();
        fq.entry(r.name).or_default().push((r.seq, r.qual));
    }
    let mut reader = ReadReader::open(&shared("mammoth_JK2782_merged.bwa_aln.bam")).unwrap();
    assert_eq!(reader.format(), Format::Bam);
    let mut batch = Vec::new();
    let (mut n, mut same) = (0, 0);
    while reader.next_batch(1000, &mut batch).unwrap() > 0 {
        for r in batch.drain(..) {
            let mates = fq
                .get(&r.name)
                .unwrap_or_else(|| panic!("{} not in FASTQ", r.name));
            assert_eq!(r.seq.len(), r.qual.len(), "{}", r.name);
            same += mates.iter().any(|(s, q)| *s == r.seq && *q == r.qual) as usize;
            n += 1;
        }
    }
    assert_eq!(n, 9_892);
    eprintln!("{same} of {n} BAM reads identical to the FASTQ");
    assert!(same as f64 >= 0.97 * n as f64, "{same} of {n} identical");
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
    p
}

fn read_all(p: &Path) -> crest::Result<usize> {
    let mut n = 0;
    for r in ReadReader::open(p)? {
        r?;
        n += 1;
    }
    Ok(n)
}

#[test]
fn malformed_inputs_give_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Truncated gzip.
    let gz = std::fs::read(shared("mammoth_JK2782_merged.fq.gz")).unwrap();
    let p = write(d, "trunc.fq.gz", &gz[..gz.len() / 3]);
    let e = read_all(&p).unwrap_err().to_string();
    assert!(e.contains("trunc.fq.gz") && e.contains("record"), "{e}");
    // Missing '+' line in record 2.
    let p = write(d, "noplus.fq", b"@r1\nACGT\n+\nIIII\n@r2\nACGT\nIIII\n");
    let e = read_all(&p).unwrap_err().to_string();
    assert!(
        e.contains("noplus.fq") && e.contains("record 2") && e.contains("'+'"),
        "{e}"
    );
    // Binary file.
    let p = write(
        d,
        "binary.fq",
        &[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0],
    );
    let e = read_all(&p).unwrap_err().to_string();
    assert!(e.contains("binary.fq") && e.contains("binary"), "{e}");
    // Bad base, quality length mismatch.
    let p = write(d, "badbase.fq", b"@r1\nACGT\n+\nIIII\n@r2\nAC7T\n+\nIIII\n");
    let e = read_all(&p).unwrap_err().to_string();
    assert!(e.contains("record 2") && e.contains("'7'"), "{e}");
    let p = write(d, "badqual.fq", b"@r1\nACGT\n+\nIII\n");
    let e = read_all(&p).unwrap_err().to_string();
    assert!(e.contains("quality"), "{e}");
    // Missing file.
    let e = read_all(&d.join("nope.fq")).unwrap_err().to_string();
    assert!(e.contains("nope.fq"), "{e}");
    // Reference problems.
    let p = write(d, "dup.fa", b">a\nACGT\n>a\nAC\n");
    assert!(Reference::load(&p)
        .unwrap_err()
        .to_string()
        .contains("duplicate"));
    let p = write(d, "badref.fa", b">a\nACGT\nAC-1\n");
    let e = Reference::load(&p).unwrap_err().to_string();
    assert!(e.contains("'1'") || e.contains("'-'"), "{e}");
    let p = write(d, "reads_as_ref.fq", b"@r1\nACGT\n+\nIIII\n");
    assert!(Reference::load(&p)
        .unwrap_err()
        .to_string()
        .contains("FASTA"));
    // Empty reads file: no records, not an error.
    let p = write(d, "empty.fq", b"");
    assert_eq!(read_all(&p).unwrap(), 0);
}

#[test]
fn reads_formats_fasta_sam_and_lowercase_iupac() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "r.fa",
        b">r1 desc\nacgtRYn\n>r2\n\n>r3\nAC\nGT\n",
    );
    let reads: Vec<_> = ReadReader::open(&p).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(reads.len(), 3);
    assert_eq!(reads[0].name, "r1");
    assert_eq!(reads[0].seq, b"ACGTNNN");
    assert!(reads[1].seq.is_empty(), "empty reads are kept");
    assert_eq!(reads[2].seq, b"ACGT");
    let sam = b"@HD\tVN:1.6\n@SQ\tSN:c\tLN:100\nr1\t16\tc\t5\t30\t4M\t*\t0\t0\tAACG\tABCD\nr1\t256\tc\t9\t0\t4M\t*\t0\t0\tAACG\tABCD\nr2\t4\t*\t0\t0\t*\t*\t0\t0\tTTGA\t*\n";
    let p = write(dir.path(), "r.sam", sam);
    let reads: Vec<_> = ReadReader::open(&p).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(reads.len(), 2, "secondary record skipped");
    assert_eq!(reads[0].seq, b"CGTT");
    assert_eq!(reads[0].qual, b"DCBA");
    assert_eq!(reads[1].seq, b"TTGA");
    assert!(reads[1].qual.is_empty());
}

fn sample_records() -> Vec<SamRecord> {
    vec![
        SamRecord {
            name: "r1".into(),
            flag: 0,
            contig: Some(0),
            pos: Some(9),
            mapq: 37,
            cigar: vec![(b'M', 4)],
            seq: b"ACGT".to_vec(),
            qual: b"IIII".to_vec(),
            nm: Some(1),
            md: Some("2A1".into()),
            rg: None,
            tags: Vec::new(),
        },
        SamRecord::unmapped("r2", b"GGCC", b""),
    ]
}

#[test]
fn sam_and_bam_writers_hold_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let r = Reference::load(&common::asset("phix174.fa")).unwrap();
    let rg = Some("@RG\\tID:lib1\\tSM:x");
    for name in ["out.sam", "out.bam", "out.sam.gz"] {
        let p = dir.path().join(name);
        let mut w = sam_writer(&p, &r, rg);
        for rec in sample_records() {
            w.write(&rec).unwrap();
        }
        assert!(!p.exists(), "output must not appear before finish");
        w.finish().unwrap();
        assert!(p.exists());
    }
    // Read both back through our own reader: same reads.
    let a: Vec<_> = ReadReader::open(&dir.path().join("out.sam"))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let b: Vec<_> = ReadReader::open(&dir.path().join("out.bam"))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let c: Vec<_> = ReadReader::open(&dir.path().join("out.sam.gz"))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a.len(), 2);
    let text = std::fs::read_to_string(dir.path().join("out.sam")).unwrap();
    assert!(
        text.contains("@SQ\tSN:gi|216019|gb|J02482.1|PX1CG\tLN:5386"),
        "{text}"
    );
    assert!(text.contains("M5:"), "{text}");
    assert!(text.contains("@RG\tID:lib1\tSM:x"), "{text}");
    assert!(text.contains("@PG\tID:crest"), "{text}");
    assert!(
        text.contains("r1\t0\tgi|216019|gb|J02482.1|PX1CG\t10\t37\t4M\t*\t0\t0\tACGT\tIIII"),
        "{text}"
    );
    assert!(
        text.contains("NM:i:1") && text.contains("MD:Z:2A1") && text.contains("RG:Z:lib1"),
        "{text}"
    );
    // samtools, when installed, accepts both and sees the same records.
    if let Ok(o) = std::process::Command::new("samtools")
        .arg("quickcheck")
        .arg(dir.path().join("out.bam"))
        .output()
    {
        assert!(o.status.success(), "samtools quickcheck failed");
        let view = |f: &str| {
            let o = std::process::Command::new("samtools")
                .args(["view"])
                .arg(dir.path().join(f))
                .output()
                .unwrap();
            assert!(o.status.success());
            o.stdout
        };
        assert_eq!(view("out.sam"), view("out.bam"));
        assert_eq!(view("out.sam"), view("out.sam.gz"));
    }
}

#[test]
fn unfinished_output_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let r = Reference::load(&common::asset("phix174.fa")).unwrap();
    let p = dir.path().join("x.sam");
    {
        let mut w = sam_writer(&p, &r, None);
        w.write(&sample_records()[0]).unwrap();
        // dropped without finish, as on an error
    }
    assert!(!p.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "temporary file left behind"
    );
    let out = Output::create(Some(&p), &[]).unwrap();
    assert!(SamWriter::create(out, SamFormat::Sam, &r, Some("@XX\tID:1"), "crest").is_err());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

fn sam_writer(p: &Path, r: &Reference, rg: Option<&str>) -> SamWriter {
    let t = Target::resolve(Some(p), &[]).unwrap();
    let f = SamFormat::resolve(&t, None).unwrap();
    SamWriter::create(Output::open(t).unwrap(), f, r, rg, "crest test").unwrap()
}

#[test]
fn output_names_tell_the_format_or_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fmt = |name: &str| {
        let t = Target::resolve(Some(&dir.path().join(name)), &[]).unwrap();
        SamFormat::resolve(&t, None)
    };
    assert_eq!(fmt("a.sam").unwrap(), SamFormat::Sam);
    assert_eq!(fmt("a.BAM").unwrap(), SamFormat::Bam);
    assert_eq!(fmt("a.sam.gz").unwrap(), SamFormat::SamGz);
    let e = fmt("a.cram").unwrap_err().to_string();
    assert!(e.contains("CRAM"), "{e}");
    for bad in ["a.fq", "a.txt", "a"] {
        let e = fmt(bad).unwrap_err().to_string();
        assert!(e.contains("--output-format"), "{bad}: {e}");
    }
    // --output-format decides where the name cannot
    let t = Target::resolve(Some(&dir.path().join("a.txt")), &[]).unwrap();
    assert_eq!(
        SamFormat::resolve(&t, Some(SamFormat::Bam)).unwrap(),
        SamFormat::Bam
    );
    // streams are SAM unless told otherwise
    let t = Target::resolve(Some(Path::new("/dev/null")), &[]).unwrap();
    assert!(matches!(t, Target::Special(_)));
    assert_eq!(SamFormat::resolve(&t, None).unwrap(), SamFormat::Sam);
    assert_eq!(
        Target::resolve(Some(Path::new("-")), &[]).unwrap(),
        Target::Stdout
    );
}

#[test]
fn outputs_never_replace_inputs_special_files_or_links() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("reads.fq");
    std::fs::write(&input, "@r\nACGT\n+\nIIII\n").unwrap();
    // the input itself, and the input through a symlink, are refused
    let e = Output::create(Some(&input), &[&input])
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("is also an input"), "{e}");
    #[cfg(unix)]
    {
        let link = dir.path().join("link.fq");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        assert!(Output::create(Some(&link), &[&input]).is_err());
        // a symlink is followed: the target is written, the link stays a link
        let target = dir.path().join("target.sam");
        let link2 = dir.path().join("out.sam");
        std::os::unix::fs::symlink(&target, &link2).unwrap();
        let mut o = Output::create(Some(&link2), &[]).unwrap();
        o.write_bytes(b"hello\n").unwrap();
        o.commit().unwrap();
        assert!(std::fs::symlink_metadata(&link2)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&target).unwrap(), b"hello\n");
        // a FIFO is written through, not replaced
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(&fifo).unwrap())
        };
        let mut o = Output::create(Some(&fifo), &[]).unwrap();
        o.write_bytes(b"through\n").unwrap();
        o.commit().unwrap();
        assert_eq!(reader.join().unwrap(), b"through\n");
        assert!(!std::fs::metadata(&fifo).unwrap().is_file());
    }
    // /dev/null stays a device
    let mut o = Output::create(Some(Path::new("/dev/null")), &[]).unwrap();
    o.write_bytes(b"x").unwrap();
    o.commit().unwrap();
    assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
    // a folder is refused; a missing folder fails at create, before any work
    assert!(Output::create(Some(dir.path()), &[]).is_err());
    assert!(Output::create(Some(&dir.path().join("no/such/x.sam")), &[]).is_err());
    // nothing hidden left behind
    let hidden: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}
