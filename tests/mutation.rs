//! Mutated inputs: small valid files of every format crest reads (FASTA,
//! FASTQ plain/gzip/BGZF, SAM, BAM, model, index) damaged by seeded bit
//! flips, truncations and spliced garbage. Every mutant must be read to a
//! clear error or to a result, never a panic (an abort or hang would end
//! the test binary). Bounded: about 150 mutants per format.

mod common;
use common::asset;

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use crest::io::{ReadReader, Reference};
use crest::rng::Rng;

const MUTANTS: usize = 150;

/// A copy of `data` damaged one of three ways, chosen by `rng`, and
/// whether it was a truncation.
fn mutate(data: &[u8], rng: &mut Rng) -> (Vec<u8>, bool) {
    let mut v = data.to_vec();
    if v.is_empty() {
        return (v, false);
    }
    let kind = rng.below(3);
    match kind {
        0 => {
            // 1–8 bit flips
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(v.len() as u64) as usize;
                v[i] ^= 1 << rng.below(8);
            }
        }
        1 => v.truncate(rng.below(v.len() as u64) as usize),
        _ => {
            // 1–64 random bytes spliced in, or written over
            let i = rng.below(v.len() as u64) as usize;
            let garbage: Vec<u8> = (0..1 + rng.below(64))
                .map(|_| rng.below(256) as u8)
                .collect();
            if rng.below(2) == 0 {
                v.splice(i..i, garbage);
            } else {
                let end = (i + garbage.len()).min(v.len());
                v.splice(i..end, garbage);
            }
        }
    }
    (v, kind == 1)
}

/// Every mutant of `data`, written to `dir/name`, handed to `read`: any
/// result or error, no panic. Returns (read, refused, truncations read).
fn survive(
    dir: &Path,
    name: &str,
    data: &[u8],
    seed: u64,
    read: impl Fn(&Path) -> Result<(), String>,
) -> (usize, usize, usize) {
    // the valid file reads
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    read(&p).unwrap_or_else(|e| panic!("{name}: the valid file fails: {e}"));
    let mut rng = Rng::new(seed);
    let (mut ok, mut err, mut cut_ok) = (0, 0, 0);
    for i in 0..MUTANTS {
        let (m, cut) = mutate(data, &mut rng);
        std::fs::write(&p, &m).unwrap();
        match catch_unwind(AssertUnwindSafe(|| read(&p))) {
            Ok(Ok(())) => {
                ok += 1;
                cut_ok += cut as usize;
            }
            Ok(Err(e)) => {
                assert!(!e.trim().is_empty(), "{name} mutant {i}: an empty error");
                err += 1;
            }
            Err(_) => {
                let keep = dir.join(format!("{name}.panic{i}"));
                std::fs::write(&keep, &m).unwrap();
                panic!("{name} mutant {i} panicked (kept as {})", keep.display());
            }
        }
    }
    (ok, err, cut_ok)
}

fn read_all(p: &Path) -> Result<(), String> {
    let r = ReadReader::open(p).map_err(|e| e.to_string())?;
    for rec in r {
        rec.map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn fastq() -> Vec<u8> {
    let reference = Reference::load(&asset("phix174.fa")).unwrap();
    let cfg = crest::sim::SimConfig {
        n: 60,
        seed: 5,
        ..crest::sim::SimConfig::default()
    };
    let mut fq = Vec::new();
    crest::sim::simulate(&reference, &[], &cfg, &mut fq).unwrap();
    fq
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn bgzf(data: &[u8]) -> Vec<u8> {
    let mut w = noodles::bgzf::io::Writer::new(Vec::new());
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

/// SAM text of the FASTQ's first reads, unmapped.
fn sam(fq: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(fq);
    let lines: Vec<&str> = text.lines().collect();
    let mut s = String::from("@HD\tVN:1.6\tSO:unsorted\n@RG\tID:x\tSM:y\n");
    for r in lines.chunks(4).take(30) {
        s.push_str(&format!(
            "{}\t4\t*\t0\t0\t*\t*\t0\t0\t{}\t{}\tRG:Z:x\n",
            &r[0][1..],
            r[1],
            r[3]
        ));
    }
    s.into_bytes()
}

#[test]
fn mutated_sequence_files_give_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fq = fastq();
    let fa = std::fs::read(asset("phix174.fa")).unwrap();
    let load_ref = |p: &Path| Reference::load(p).map(drop).map_err(|e| e.to_string());
    let s = sam(&fq);
    let mut seen = vec![
        ("FASTA", survive(d, "r.fa", &fa, 1, load_ref)),
        ("FASTA.gz", survive(d, "r.fa.gz", &gz(&fa), 2, load_ref)),
        ("FASTQ", survive(d, "r.fq", &fq, 3, read_all)),
        ("FASTQ.gz", survive(d, "r.fq.gz", &gz(&fq), 4, read_all)),
        ("FASTQ BGZF", survive(d, "b.fq.gz", &bgzf(&fq), 5, read_all)),
    ];
    seen.push(("SAM", survive(d, "r.sam", &s, 6, read_all)));
    // BAM from the SAM, through samtools (installed by .ci/run)
    std::fs::write(d.join("in.sam"), &s).unwrap();
    let st = std::process::Command::new("samtools")
        .args(["view", "-b", "-o"])
        .arg(d.join("in.bam"))
        .arg(d.join("in.sam"))
        .status()
        .expect("samtools must be installed");
    assert!(st.success());
    let bam = std::fs::read(d.join("in.bam")).unwrap();
    seen.push(("BAM", survive(d, "r.bam", &bam, 7, read_all)));
    for (what, (ok, err, _)) in &seen {
        eprintln!("{what}: {ok} mutants read, {err} refused");
        // most damage must be noticed: a reader that accepts everything is wrong
        assert!(*err > 0, "{what}: no mutant was refused");
    }
}

#[test]
fn mutated_models_and_indexes_give_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = std::fs::read(asset("mammoth_chrM.crest")).unwrap();
    let (ok, err, cut_ok) = survive(d, "m.crest", &model, 11, |p| {
        crest::model::Checkpoint::load(p)
            .map(drop)
            .map_err(|e| e.to_string())
    });
    eprintln!("model: {ok} mutants loaded, {err} refused");
    // a cut model never loads (a flipped weight bit may: there is no checksum)
    assert_eq!(cut_ok, 0, "model: a truncated file loaded");
    assert!(
        err > MUTANTS / 4,
        "model: only {err} of {MUTANTS} mutants refused"
    );
    // an index of mammoth mtDNA, built by the binary
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_crest"))
        .current_dir(d)
        .args(["index", "--model"])
        .arg(asset("mammoth_chrM.crest"))
        .arg("--reference")
        .arg(asset("mammoth_chrM.fa"))
        .args(["-o", "mt.idx"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let index = std::fs::read(d.join("mt.idx")).unwrap();
    let (ok, err, cut_ok) = survive(d, "i.idx", &index, 12, |p| {
        crest::index::Index::load(p)
            .map(drop)
            .map_err(|e| e.to_string())
    });
    eprintln!("index: {ok} mutants loaded, {err} refused");
    assert_eq!(cut_ok, 0, "index: a truncated file loaded");
    assert!(
        err > MUTANTS / 4,
        "index: only {err} of {MUTANTS} mutants refused"
    );
}
