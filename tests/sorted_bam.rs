//! Coordinate-sorted, indexed BAM from crest's bounded-memory sorter: the
//! records come out in samtools sort's order, the BAI and CSI indexes equal
//! `samtools index`'s (as maps: bin order aside), and quickcheck, idxstats and region
//! queries work — on several contigs, with unmapped reads, and with a memory
//! budget small enough to spill many runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use crest::io::{
    IndexFormat, Output, Reference, SamFormat, SamRecord, SamWriter, SortOptions, Target,
};
use crest::rng::Rng;
use noodles::csi::binning_index::ReferenceSequence as _;
use noodles::csi::BinningIndex as _;

fn samtools(args: &[&str], files: &[&Path]) -> std::process::Output {
    let o = Command::new("samtools")
        .args(args)
        .args(files)
        .output()
        .expect("samtools must be installed (.ci/run installs it)");
    assert!(
        o.status.success(),
        "samtools {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A three-contig reference of random bases.
fn reference(dir: &Path) -> (PathBuf, Reference) {
    let mut rng = Rng::new(11);
    let mut fa = String::new();
    for (name, len) in [("chrA", 70_001usize), ("chrB", 333), ("chrC", 20_480)] {
        fa.push_str(&format!(">{name}\n"));
        for i in 0..len {
            fa.push(b"ACGT"[rng.below(4) as usize] as char);
            if i % 60 == 59 {
                fa.push('\n');
            }
        }
        fa.push('\n');
    }
    let p = dir.join("ref.fa");
    std::fs::write(&p, fa).unwrap();
    let r = Reference::load(&p).unwrap();
    (p, r)
}

/// Random alignments: some with indels, some reverse, 8% unmapped.
fn records(r: &Reference, n: usize, seed: u64) -> Vec<SamRecord> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let len = 25 + rng.below(60) as usize;
            let seq: Vec<u8> = (0..len).map(|_| b"ACGT"[rng.below(4) as usize]).collect();
            let qual = vec![b'5'; len];
            let name = format!("read{i}");
            if rng.below(100) < 8 {
                return SamRecord::unmapped(&name, &seq, &qual);
            }
            let c = rng.below(r.contigs.len() as u64) as usize;
            let span = len + 2;
            let pos = rng.below((r.contigs[c].seq.len() - span) as u64) as usize;
            let cigar = if rng.below(4) == 0 {
                vec![(b'M', 10), (b'D', 2), (b'M', (len - 10) as u32)]
            } else {
                vec![(b'M', len as u32)]
            };
            SamRecord {
                name,
                flag: if rng.below(2) == 0 { 0 } else { 16 },
                contig: Some(c),
                pos: Some(pos),
                mapq: rng.below(61) as u8,
                cigar,
                seq,
                qual,
                nm: Some(0),
                md: None,
                rg: None,
                tags: Vec::new(),
            }
        })
        .collect()
}

fn write_sorted(
    dir: &Path,
    name: &str,
    r: &Reference,
    recs: &[SamRecord],
    memory: usize,
    index: Option<IndexFormat>,
) -> PathBuf {
    let p = dir.join(name);
    let out = Output::open(Target::resolve(Some(&p), &[]).unwrap()).unwrap();
    let index = index.map(|f| {
        let t = Target::resolve(Some(&f.path_for(&p)), &[]).unwrap();
        (Output::open(t).unwrap(), f)
    });
    let mut w = SamWriter::create_sorted(
        out,
        SamFormat::Bam,
        r,
        Some("@RG\\tID:lib1\\tSM:s"),
        "crest test",
        SortOptions {
            memory,
            tmp_dir: dir.to_path_buf(),
        },
        index,
    )
    .unwrap();
    for rec in recs {
        w.write(rec).unwrap();
    }
    w.finish().unwrap();
    p
}

fn write_unsorted(dir: &Path, name: &str, r: &Reference, recs: &[SamRecord]) -> PathBuf {
    let p = dir.join(name);
    let out = Output::open(Target::resolve(Some(&p), &[]).unwrap()).unwrap();
    let mut w = SamWriter::create(
        out,
        SamFormat::Bam,
        r,
        Some("@RG\\tID:lib1\\tSM:s"),
        "crest test",
    )
    .unwrap();
    for rec in recs {
        w.write(rec).unwrap();
    }
    w.finish().unwrap();
    p
}

#[test]
fn sorted_bam_matches_samtools_sort_and_index() {
    let dir = tempfile::tempdir().unwrap();
    let (_, r) = reference(dir.path());
    let recs = records(&r, 20_011, 5);
    // 1 MiB holds a few thousand records: several runs are spilled and merged.
    let bam = write_sorted(
        dir.path(),
        "s.bam",
        &r,
        &recs,
        1 << 20,
        Some(IndexFormat::Bai),
    );
    samtools(&["quickcheck", "-v"], &[&bam]);
    let header = String::from_utf8(samtools(&["view", "-H"], &[&bam]).stdout).unwrap();
    assert!(header.starts_with("@HD\tVN:1.6\tSO:coordinate"), "{header}");

    // no scratch files left beside the output
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");

    // same records, same order as samtools sort of the unsorted BAM
    let unsorted = write_unsorted(dir.path(), "u.bam", &r, &recs);
    let st = dir.path().join("st.bam");
    samtools(&["sort", "-o"], &[&st, &unsorted]);
    let body = |p: &Path| samtools(&["view"], &[p]).stdout;
    let ours = body(&bam);
    assert_eq!(
        ours.iter().filter(|&&b| b == b'\n').count(),
        recs.len(),
        "every record once"
    );
    assert!(ours == body(&st), "order differs from samtools sort");

    // The same BAI as samtools index's: same bins, chunks, linear index and
    // counts (samtools lists the bins in its hash table's order, so the bytes
    // can differ in bin order only; the indexes are compared as maps).
    let copy = dir.path().join("copy.bam");
    std::fs::copy(&bam, &copy).unwrap();
    samtools(&["index"], &[&copy]);
    let a = noodles::bam::bai::fs::read(dir.path().join("s.bam.bai")).unwrap();
    let b = noodles::bam::bai::fs::read(dir.path().join("copy.bam.bai")).unwrap();
    assert!(a == b, "BAI differs from samtools index");

    // idxstats counts, and a region query through our index
    let stats = String::from_utf8(samtools(&["idxstats"], &[&bam]).stdout).unwrap();
    let mut total = 0usize;
    for (i, line) in stats.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        let mapped: usize = f[2].parse().unwrap();
        let unmapped: usize = f[3].parse().unwrap();
        if i < r.contigs.len() {
            assert_eq!(f[0], r.contigs[i].name);
            let want = recs.iter().filter(|x| x.contig == Some(i)).count();
            assert_eq!(mapped, want, "{line}");
        } else {
            assert_eq!(f[0], "*");
            assert_eq!(unmapped, recs.iter().filter(|x| x.contig.is_none()).count());
        }
        total += mapped + unmapped;
    }
    assert_eq!(total, recs.len());
    let region = |p: &Path| {
        let o = Command::new("samtools")
            .args(["view", "-c"])
            .arg(p)
            .arg("chrA:30000-40000")
            .output()
            .unwrap();
        String::from_utf8(o.stdout).unwrap()
    };
    assert_eq!(region(&bam), region(&copy));
    assert!(region(&bam).trim().parse::<usize>().unwrap() > 100);
}

#[test]
fn csi_index_matches_samtools_and_small_budgets_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, r) = reference(dir.path());
    let recs = records(&r, 6_007, 9);
    let big = write_sorted(dir.path(), "big.bam", &r, &recs, 1 << 30, None);
    let small = write_sorted(
        dir.path(),
        "small.bam",
        &r,
        &recs,
        1 << 20,
        Some(IndexFormat::Csi),
    );
    assert!(!dir.path().join("big.bam.bai").exists());
    assert!(
        std::fs::read(&big).unwrap() == std::fs::read(&small).unwrap(),
        "in-memory and spilled sorts wrote different BAMs"
    );
    let copy = dir.path().join("copy.bam");
    std::fs::copy(&small, &copy).unwrap();
    samtools(&["index", "-c"], &[&copy]);
    let a = noodles::csi::fs::read(dir.path().join("small.bam.csi")).unwrap();
    let b = noodles::csi::fs::read(dir.path().join("copy.bam.csi")).unwrap();
    // Same levels, bins, chunks, counts and per-bin first offsets, except
    // the first offset of the root bin 0: noodles leaves it at 0 (a reader
    // then scans from the top: slower for that bin, never wrong), htslib
    // stores the first record's offset.
    assert_eq!((a.min_shift(), a.depth()), (b.min_shift(), b.depth()));
    assert_eq!(
        a.unplaced_unmapped_record_count(),
        b.unplaced_unmapped_record_count()
    );
    assert_eq!(a.reference_sequences().len(), b.reference_sequences().len());
    for (x, y) in a.reference_sequences().iter().zip(b.reference_sequences()) {
        assert!(x.bins() == y.bins(), "bins differ");
        assert_eq!(x.metadata(), y.metadata());
        let drop_root = |m: &indexmap::IndexMap<usize, noodles::bgzf::VirtualPosition>| {
            let mut m = m.clone();
            m.shift_remove(&0);
            m
        };
        assert!(
            drop_root(x.index()) == drop_root(y.index()),
            "loffsets differ"
        );
    }
    // and region queries through either index count the same records
    for region in [
        "chrA:1-16384",
        "chrA:16000-17000",
        "chrA:60000-70001",
        "chrC",
        "chrB:100-200",
    ] {
        let count = |p: &Path| samtools(&["view", "-c"], &[p, Path::new(region)]).stdout;
        assert_eq!(count(&small), count(&copy), "{region}");
    }
}

#[test]
fn only_bam_is_indexed_and_bai_refuses_huge_contigs() {
    let dir = tempfile::tempdir().unwrap();
    let (_, r) = reference(dir.path());
    let p = dir.path().join("x.sam");
    let out = Output::open(Target::resolve(Some(&p), &[]).unwrap()).unwrap();
    let ix =
        Output::open(Target::resolve(Some(&dir.path().join("x.sam.bai")), &[]).unwrap()).unwrap();
    let e = SamWriter::create_sorted(
        out,
        SamFormat::Sam,
        &r,
        None,
        "t",
        SortOptions {
            memory: 1 << 20,
            tmp_dir: dir.path().into(),
        },
        Some((ix, IndexFormat::Bai)),
    )
    .err()
    .expect("SAM cannot be indexed");
    assert!(e.to_string().contains("BAM"), "{e}");
    let mut huge = r.clone();
    huge.contigs[0].seq = vec![b'A'; (1 << 29) + 1];
    let e = IndexFormat::Bai.check(&huge).unwrap_err().to_string();
    assert!(e.contains("--index-format csi"), "{e}");
    assert!(IndexFormat::Csi.check(&huge).is_ok());
    // nothing half-written is left
    let left = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(left, 1, "only ref.fa should remain");
}
