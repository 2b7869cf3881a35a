//! Peak memory of `crest map --sort`'s writer on a million records: the real
//! sort path (SamWriter::create_sorted → spilled runs → merge → BAM + BAI),
//! fed with records shaped like crest's aDNA output (log-normal lengths
//! around 45 bp, 90% placed on an E. coli-sized genome, NM/MD tags), at
//! several memory budgets. Each budget runs in its own process, so peak RSS
//! (getrusage of the child) is that budget's alone.
//!
//! `cargo bench --bench sort_memory` (1,000,000 records; set
//! CREST_SORT_RECORDS to change). Under `cargo test` it runs a small smoke
//! check instead.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crest::io::{
    IndexFormat, Output, Reference, SamFormat, SamRecord, SamWriter, SortOptions, Target,
};
use crest::rng::Rng;

const GENOME: usize = 4_641_652;

fn reference() -> Reference {
    let mut rng = Rng::new(1);
    let seq: Vec<u8> = (0..GENOME)
        .map(|_| b"ACGT"[rng.below(4) as usize])
        .collect();
    let fa = format!(">chr\n{}\n", String::from_utf8(seq).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("r.fa");
    std::fs::write(&p, fa).unwrap();
    Reference::load(&p).unwrap()
}

fn record(rng: &mut Rng, i: u64) -> SamRecord {
    let len = ((45.0 * (0.3 * rng.normal()).exp()) as usize).clamp(25, 150);
    let seq: Vec<u8> = (0..len).map(|_| b"ACGT"[rng.below(4) as usize]).collect();
    let qual = vec![b'E'; len];
    let name = format!("crest_{i}_chr_{}", rng.below(GENOME as u64));
    if rng.below(10) == 0 {
        return SamRecord::unmapped(&name, &seq, &qual);
    }
    SamRecord {
        name,
        flag: if rng.below(2) == 0 { 0 } else { 16 },
        contig: Some(0),
        pos: Some(rng.below((GENOME - len) as u64) as usize),
        mapq: 37,
        cigar: vec![(b'M', len as u32)],
        seq,
        qual,
        nm: Some(1),
        md: Some(format!("{}A{}", len / 2, len - len / 2 - 1)),
        rg: None,
        tags: Vec::new(),
    }
}

/// Sort `n` records with `memory` bytes into dir/out.bam; seconds taken.
fn sort_once(dir: &Path, n: u64, memory: usize) -> f64 {
    let r = reference();
    let p = dir.join("out.bam");
    let out = Output::open(Target::resolve(Some(&p), &[]).unwrap()).unwrap();
    let ix =
        Output::open(Target::resolve(Some(&IndexFormat::Bai.path_for(&p)), &[]).unwrap()).unwrap();
    let t0 = Instant::now();
    let mut w = SamWriter::create_sorted(
        out,
        SamFormat::Bam,
        &r,
        None,
        "bench",
        SortOptions {
            memory,
            tmp_dir: dir.to_path_buf(),
        },
        Some((ix, IndexFormat::Bai)),
    )
    .unwrap();
    let mut rng = Rng::new(7);
    for i in 0..n {
        w.push(record(&mut rng, i)).unwrap();
    }
    w.finish().unwrap();
    t0.elapsed().as_secs_f64()
}

fn child_rss_mib() -> f64 {
    // SAFETY: getrusage fills a zeroed struct.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru);
        ru.ru_maxrss as f64 / 1024.0
    }
}

fn main() {
    // child mode: one budget
    if let Ok(m) = std::env::var("CREST_SORT_CHILD") {
        let memory: usize = m.parse().unwrap();
        let n: u64 = std::env::var("CREST_SORT_RECORDS")
            .unwrap()
            .parse()
            .unwrap();
        let dir = tempfile::tempdir_in(".").unwrap();
        let secs = sort_once(dir.path(), n, memory);
        let bam = std::fs::metadata(dir.path().join("out.bam")).unwrap().len();
        let q = Command::new("samtools")
            .args(["quickcheck"])
            .arg(dir.path().join("out.bam"))
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        println!("{secs:.1} {bam} {q}");
        return;
    }
    let full = std::env::args().any(|a| a == "--bench");
    let n: u64 = std::env::var("CREST_SORT_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 1_000_000 } else { 20_000 });
    let budgets: &[usize] = if full {
        &[16 << 20, 64 << 20, 256 << 20, 768 << 20]
    } else {
        &[1 << 20]
    };
    println!("sort_memory: {n} records, BAM + BAI, one process per budget");
    println!("| --sort-memory | peak RSS (MiB) | seconds | BAM (MiB) | quickcheck |");
    println!("|---|---|---|---|---|");
    let exe = std::env::current_exe().unwrap();
    for &m in budgets {
        let before = child_rss_mib();
        let o = Command::new(&exe)
            .env("CREST_SORT_CHILD", m.to_string())
            .env("CREST_SORT_RECORDS", n.to_string())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let s = String::from_utf8(o.stdout).unwrap();
        let f: Vec<&str> = s.split_whitespace().collect();
        // RUSAGE_CHILDREN keeps the largest child so far: budgets ascend, so
        // each row's figure is its own child's unless an earlier one was larger.
        let rss = child_rss_mib();
        let note = if rss <= before && before > 0.0 {
            " (≤ previous)"
        } else {
            ""
        };
        println!(
            "| {} MiB | {rss:.0}{note} | {} | {:.1} | {} |",
            m >> 20,
            f[0],
            f[1].parse::<f64>().unwrap() / (1 << 20) as f64,
            f[2]
        );
        assert_eq!(f[2], "true", "samtools quickcheck failed");
    }
}
