//! `crest dedup`: duplicates of merged aDNA reads share contig, strand and
//! both ends; the best-quality copy stays. Checked on designed records and on
//! the real JK2782 BAM against an independent count from `samtools view`.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use crest::io::{Output, Reference, SamFormat, SamRecord, SamWriter, SortOptions, Target};

fn rec(name: &str, pos: usize, len: usize, rev: bool, q: u8) -> SamRecord {
    SamRecord {
        name: name.into(),
        flag: if rev { 16 } else { 0 },
        contig: Some(0),
        pos: Some(pos),
        mapq: 37,
        cigar: vec![(b'M', len as u32)],
        seq: vec![b'A'; len],
        qual: vec![q; len],
        nm: Some(0),
        md: None,
        rg: None,
        tags: Vec::new(),
    }
}

fn sorted_bam(dir: &Path, recs: &[SamRecord]) -> std::path::PathBuf {
    let r = Reference::load(&common::asset("phix174.fa")).unwrap();
    let p = dir.join("in.bam");
    let out = Output::open(Target::resolve(Some(&p), &[]).unwrap()).unwrap();
    let mut w = SamWriter::create_sorted(
        out,
        SamFormat::Bam,
        &r,
        None,
        "crest map test",
        SortOptions {
            memory: 1 << 20,
            tmp_dir: dir.into(),
        },
        None,
    )
    .unwrap();
    for x in recs {
        w.write(x).unwrap();
    }
    w.finish().unwrap();
    p
}

fn view(p: &Path) -> Vec<(String, u16)> {
    let o = Command::new("samtools")
        .arg("view")
        .arg(p)
        .output()
        .unwrap();
    assert!(o.status.success());
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].parse().unwrap())
        })
        .collect()
}

#[test]
fn copies_share_both_ends_and_strand_and_the_best_stays() {
    let dir = tempfile::tempdir().unwrap();
    let recs = vec![
        rec("a1", 100, 40, false, b'5'),
        rec("a2", 100, 40, false, b'I'), // best of a1..a3
        rec("a3", 100, 40, false, b'5'),
        rec("b", 100, 41, false, b'5'), // same start, other end: not a copy
        rec("c", 100, 40, true, b'5'),  // other strand
        rec("d1", 200, 30, true, b'5'), // tie: the first stays
        rec("d2", 200, 30, true, b'5'),
        SamRecord::unmapped("u", b"ACGT", b"IIII"),
    ];
    let input = sorted_bam(dir.path(), &recs);
    let out = dir.path().join("out.bam");
    let o = Output::open(Target::resolve(Some(&out), &[&input]).unwrap()).unwrap();
    let s = crest::dedup::dedup(&input, o, false, "crest dedup test").unwrap();
    assert_eq!((s.records, s.mapped, s.duplicates), (8, 7, 3));
    let flags: HashMap<String, u16> = view(&out).into_iter().collect();
    let dup = |n: &str| flags[n] & 0x400 != 0;
    for n in ["a1", "a3", "d2"] {
        assert!(dup(n), "{n} should be a duplicate");
    }
    for n in ["a2", "b", "c", "d1", "u"] {
        assert!(!dup(n), "{n} should stay");
    }
    // the @PG line chains after crest map's
    let h = Command::new("samtools")
        .args(["view", "-H"])
        .arg(&out)
        .output()
        .unwrap();
    let h = String::from_utf8(h.stdout).unwrap();
    let line = h.lines().find(|l| l.contains("ID:crest-dedup")).unwrap();
    assert!(line.contains("PP:crest"), "{line}");

    // --remove drops them; unsorted input is refused
    let out2 = dir.path().join("out2.bam");
    let o = Output::open(Target::resolve(Some(&out2), &[&input]).unwrap()).unwrap();
    crest::dedup::dedup(&input, o, true, "t").unwrap();
    assert_eq!(view(&out2).len(), 5);
    let unsorted = dir.path().join("unsorted.bam");
    {
        let r = Reference::load(&common::asset("phix174.fa")).unwrap();
        let o = Output::open(Target::resolve(Some(&unsorted), &[]).unwrap()).unwrap();
        let mut w = SamWriter::create(o, SamFormat::Bam, &r, None, "t").unwrap();
        for x in &recs {
            w.write(x).unwrap();
        }
        w.finish().unwrap();
    }
    let o = Output::open(Target::resolve(Some(&dir.path().join("x.bam")), &[]).unwrap()).unwrap();
    let e = crest::dedup::dedup(&unsorted, o, false, "t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not coordinate-sorted"), "{e}");
    let fq = dir.path().join("reads.fq");
    std::fs::write(&fq, "@r\nACGT\n+\nIIII\n").unwrap();
    let o = Output::open(Target::resolve(Some(&dir.path().join("x.bam")), &[]).unwrap()).unwrap();
    let e = crest::dedup::dedup(&fq, o, false, "t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not BAM"), "{e}");
    assert!(!dir.path().join("x.bam").exists());

    // the command writes its counts as JSON beside the BAM
    let out3 = dir.path().join("out3.bam");
    let json = dir.path().join("dedup.json");
    let o = Command::new(env!("CARGO_BIN_EXE_crest"))
        .arg("dedup")
        .arg(&input)
        .arg("-o")
        .arg(&out3)
        .arg("--json")
        .arg(&json)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(j["records"], 8);
    assert_eq!(j["mapped"], 7);
    assert_eq!(j["duplicates"], 3);
    assert!((j["duplication_rate"].as_f64().unwrap() - 3.0 / 7.0).abs() < 1e-12);
    // --json naming the output BAM is refused before anything is written
    let o = Command::new(env!("CARGO_BIN_EXE_crest"))
        .arg("dedup")
        .arg(&input)
        .arg("-o")
        .arg(dir.path().join("same.bam"))
        .arg("--json")
        .arg(dir.path().join("same.bam"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(!dir.path().join("same.bam").exists());
}

#[test]
fn real_library_duplicates_match_an_independent_count() {
    let dir = tempfile::tempdir().unwrap();
    let bwa =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mammoth_JK2782_merged.bwa_aln.bam");
    let sorted = dir.path().join("s.bam");
    let st = Command::new("samtools")
        .args(["sort", "-o"])
        .arg(&sorted)
        .arg(&bwa)
        .status()
        .expect("samtools");
    assert!(st.success());
    let out = dir.path().join("d.bam");
    let o = Output::open(Target::resolve(Some(&out), &[&sorted]).unwrap()).unwrap();
    let s = crest::dedup::dedup(&sorted, o, false, "t").unwrap();
    // twin: distinct (contig, start, end, strand) among primary mapped reads
    let v = Command::new("samtools")
        .args(["view", "-F", "0x904"])
        .arg(&sorted)
        .output()
        .unwrap();
    let text = String::from_utf8(v.stdout).unwrap();
    let mut keys = std::collections::HashSet::new();
    let mut n = 0u64;
    for l in text.lines() {
        let f: Vec<&str> = l.split('\t').collect();
        let (mut span, mut num) = (0u64, 0u64);
        for c in f[5].bytes() {
            if c.is_ascii_digit() {
                num = num * 10 + u64::from(c - b'0');
            } else {
                if b"MDN=X".contains(&c) {
                    span += num;
                }
                num = 0;
            }
        }
        let pos: u64 = f[3].parse().unwrap();
        let flag: u16 = f[1].parse().unwrap();
        keys.insert((f[2].to_string(), pos, pos + span, flag & 16));
        n += 1;
    }
    assert_eq!(s.mapped, n);
    assert_eq!(s.duplicates, n - keys.len() as u64);
    assert!(s.duplicates > 0);
    let marked = view(&out).iter().filter(|(_, f)| f & 0x400 != 0).count() as u64;
    assert_eq!(marked, s.duplicates);
    assert_eq!(view(&out).len() as u64, s.records);
}
