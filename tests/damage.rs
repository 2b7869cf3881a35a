//! The damage profile: orientation of reverse-strand reads, mapDamage's
//! layout, and recovery of the deamination rate the simulator put in.

use std::path::Path;

use crest::damage::{DamageProfile, End};
use crest::io::{Contig, Reference, SamRecord};
use crest::seq::reverse_complement;

fn reference(seq: &str) -> Reference {
    Reference {
        contigs: vec![Contig {
            name: "chr".into(),
            seq: seq.as_bytes().to_vec(),
            md5: String::new(),
        }],
    }
}

fn record(seq: &str, pos: usize, reverse: bool, cigar: Vec<(u8, u32)>) -> SamRecord {
    SamRecord {
        name: "r".into(),
        flag: if reverse { 16 } else { 0 },
        contig: Some(0),
        pos: Some(pos),
        mapq: 37,
        cigar,
        seq: seq.as_bytes().to_vec(),
        ..Default::default()
    }
}

#[test]
fn reverse_reads_are_counted_in_their_own_orientation() {
    let r = reference("GGGGAAAATTTTCCCC");
    let mut d = DamageProfile::new(&r, 5);
    // forward read, G→A at its first base: G>A at the 5′ end, position 1
    d.add(&record("AGGGAAAA", 0, false, vec![(b'M', 8)]), &r);
    assert_eq!(d.frequency(End::Five, 0, b'G', b'A'), 1.0);
    assert_eq!(d.frequency(End::Three, 0, b'C', b'T'), 0.0);
    // the same bases on the reverse strand: the leftmost base is the read's
    // 3′ end, and G>A on the forward strand is C>T in the read
    let mut d = DamageProfile::new(&r, 5);
    d.add(&record("AGGGAAAA", 0, true, vec![(b'M', 8)]), &r);
    assert_eq!(d.frequency(End::Three, 0, b'C', b'T'), 1.0);
    assert_eq!(d.frequency(End::Five, 0, b'G', b'A'), 0.0);
    assert_eq!(d.frequency(End::Five, 0, b'T', b'T'), 1.0); // forward A, last base
                                                            // unmapped records are ignored
    let mut u = record("ACGT", 0, false, vec![]);
    u.flag = 4;
    u.contig = None;
    d.add(&u, &r);
    assert_eq!(d.reads(), 1);
}

#[test]
fn misincorporation_table_has_mapdamage_layout() {
    let r = reference("GGGGAAAATTTTCCCC");
    let mut d = DamageProfile::new(&r, 5);
    // 3M 1D 4M: the deleted reference base is r[3] = G
    d.add(
        &record("GGGAAAA", 0, false, vec![(b'M', 3), (b'D', 1), (b'M', 4)]),
        &r,
    );
    let t = d.misincorporation_txt("test");
    let lines: Vec<&str> = t.lines().filter(|l| !l.starts_with('#')).collect();
    let header: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(
        &header[..10],
        ["Chr", "End", "Std", "Pos", "A", "C", "G", "T", "Total", "G>A"]
    );
    assert_eq!(header.len(), 30);
    assert_eq!(header[29], "S");
    // 2 ends × 2 strands × 5 positions
    assert_eq!(lines.len(), 1 + 20);
    // 5′ end, + strand, position 1: reference G counted once
    let row: Vec<&str> = lines[1].split('\t').collect();
    assert_eq!(&row[..9], ["chr", "5p", "+", "1", "0", "0", "1", "0", "1"]);
    // the deletion sits next to the read's 4th base (5′ position 4)
    let col = header.iter().position(|h| *h == "G>-").unwrap();
    let row4: Vec<&str> = lines[4].split('\t').collect();
    assert_eq!(&row4[..4], ["chr", "5p", "+", "4"]);
    assert_eq!(row4[col], "1");
    let deleted: u64 = lines[1..]
        .iter()
        .map(|l| l.split('\t').nth(col).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(deleted, 2, "counted from both ends (5′ pos 4, 3′ pos 4)");
    for l in &lines[1..] {
        assert_eq!(l.split('\t').count(), 30, "{l}");
    }
    let lg = d.lengths_txt();
    assert!(lg.contains("+\t7\t1"), "{lg}");
}

#[test]
fn simulated_deamination_is_recovered() {
    let r = Reference::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/mammoth_chrM.fa"))
        .unwrap();
    let cfg = crest::sim::SimConfig {
        n: 6000,
        seed: 11,
        deamination: 0.3,
        decay: 0.5,
        substitution: 0.001,
        indel: 0.0,
        ..crest::sim::SimConfig::default()
    };
    let mut fq = Vec::new();
    crest::sim::simulate(&r, &[], &cfg, &mut fq).unwrap();
    let fq = String::from_utf8(fq).unwrap();
    let mut d = DamageProfile::new(&r, 25);
    let lines: Vec<&str> = fq.lines().collect();
    for rec in lines.chunks(4) {
        let name = rec[0][1..].split_whitespace().next().unwrap();
        let Some(crest::sim::Truth::Reference { start, reverse, .. }) =
            crest::sim::parse_truth(name)
        else {
            panic!("{name}");
        };
        // the true, ungapped alignment; SAM holds forward-strand bases
        let seq = if reverse {
            reverse_complement(rec[1].as_bytes())
        } else {
            rec[1].as_bytes().to_vec()
        };
        let mut s = SamRecord {
            name: name.into(),
            flag: if reverse { 16 } else { 0 },
            contig: Some(0),
            pos: Some(start),
            cigar: vec![(b'M', seq.len() as u32)],
            ..Default::default()
        };
        s.seq = seq;
        d.add(&s, &r);
    }
    for (pos, want) in [(0usize, 0.3), (1, 0.15), (2, 0.075)] {
        let ct = d.frequency(End::Five, pos, b'C', b'T');
        let ga = d.frequency(End::Three, pos, b'G', b'A');
        assert!(
            (ct - want).abs() < 0.04,
            "5′ C→T at {}: {ct} vs {want}",
            pos + 1
        );
        assert!(
            (ga - want).abs() < 0.04,
            "3′ G→A at {}: {ga} vs {want}",
            pos + 1
        );
    }
    // no G→A at the 5′ end or C→T at the 3′ end beyond errors; the
    // background is the 0.1% error rate spread over three bases
    assert!(d.frequency(End::Five, 0, b'G', b'A') < 0.01);
    assert!(d.frequency(End::Three, 0, b'C', b'T') < 0.01);
    assert!(d.frequency(End::Five, 15, b'C', b'T') < 0.01);
    assert!(d.other_frequency(End::Five, 10) < 0.005);
    let svg = d.svg("test").unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("C→T"),
        "{}",
        &svg[..80]
    );
}

#[test]
fn a_profile_folder_with_other_files_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = reference("GGGGAAAATTTTCCCC");
    let d = DamageProfile::new(&r, 3);
    let out = dir.path().join("prof");
    d.write(&out, "x").unwrap();
    for f in crest::damage::FILES {
        assert!(out.join(f).is_file(), "{f}");
    }
    // a second run replaces its own profile
    d.write(&out, "x").unwrap();
    // but never a folder holding anything else
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let e = d.write(&out, "x").unwrap_err().to_string();
    assert!(e.contains("notes.txt"), "{e}");
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
    // a file where the folder should be
    let e = d
        .write(&out.join("notes.txt"), "x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a folder"), "{e}");
    let hidden: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(hidden.is_empty());
}
