//! The damage profile: orientation of reverse-strand reads, mapDamage's
//! layout, and recovery of the deamination rate the simulator put in.

mod common;

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
    let r = Reference::load(&common::asset("mammoth_chrM.fa")).unwrap();
    let cfg = crest::sim::SimConfig {
        n: 6000,
        seed: 11,
        deamination: 0.3,
        decay: 0.5,
        substitution: 0.001,
        indel: 0.0,
        ..crest::sim::SimConfig::default()
    };
    let d = true_profile(&r, &cfg);
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
    // the fitted damage length: ct5 falls 0.3 · 0.5^i, past the 1% excess
    // at i = 5 (0.0094), with sampling noise either side
    let fit = d.fit_damage_len(100).expect("enough reads");
    assert!((4..=6).contains(&fit.damage_len), "{fit:?}");
    assert!(fit.background < 0.005, "{fit:?}");
    assert!(d.fit_damage_len(1_000_000).is_none());
    // mapDamage's per-end frequency files, as MultiQC reads them
    for (end, name, head, from, to) in [
        (End::Five, "5pCtoT_freq.txt", "pos\t5pC>T", b'C', b'T'),
        (End::Three, "3pGtoA_freq.txt", "pos\t3pG>A", b'G', b'A'),
    ] {
        let txt = d.freq_txt(end);
        let mut lines = txt.lines();
        assert_eq!(lines.next(), Some(head), "{name}");
        let rows: Vec<(usize, f64)> = lines
            .map(|l| {
                let (p, f) = l.split_once('\t').unwrap();
                (p.parse().unwrap(), f.parse().unwrap())
            })
            .collect();
        assert_eq!(rows.len(), 25, "{name}");
        for (i, &(p, f)) in rows.iter().enumerate() {
            assert_eq!(p, i + 1);
            assert!(
                (f - d.frequency(end, i, from, to)).abs() < 1e-12,
                "{name} {p}"
            );
        }
        assert!((rows[0].1 - 0.3).abs() < 0.04, "{name}: {}", rows[0].1);
    }
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

/// Random alignments with every kind of cell count: substitutions, an
/// insertion, a deletion and soft clips, on both strands.
fn varied_records(r: &Reference, n: usize) -> Vec<SamRecord> {
    let mut rng = crest::rng::Rng::new(23);
    let g = &r.contigs[0].seq;
    (0..n)
        .map(|i| {
            let len = 30 + rng.below(40) as usize;
            let pos = rng.below((g.len() - len - 10) as u64) as usize;
            let mut seq: Vec<u8> = g[pos..pos + len].to_vec();
            for b in seq.iter_mut() {
                if rng.below(20) == 0 {
                    *b = b"ACGT"[rng.below(4) as usize];
                }
            }
            let cigar = match i % 3 {
                0 => vec![(b'M', len as u32)],
                1 => vec![(b'S', 2), (b'M', 10), (b'I', 1), (b'M', (len - 13) as u32)],
                _ => vec![(b'M', 12), (b'D', 2), (b'M', (len - 14) as u32), (b'S', 2)],
            };
            SamRecord {
                name: format!("r{i}"),
                flag: if rng.below(2) == 0 { 0 } else { 16 },
                contig: Some(0),
                pos: Some(pos),
                cigar,
                seq,
                ..Default::default()
            }
        })
        .collect()
}

#[test]
fn profiles_read_back_exactly_and_shards_sum_to_the_whole() {
    let r = Reference::load(&common::asset("mammoth_chrM.fa")).unwrap();
    let recs = varied_records(&r, 3000);
    let mut whole = DamageProfile::new(&r, 25);
    recs.iter().for_each(|x| whole.add(x, &r));
    let dir = tempfile::tempdir().unwrap();
    let mut shard_dirs = Vec::new();
    for (k, part) in recs.chunks(1001).enumerate() {
        let mut d = DamageProfile::new(&r, 25);
        part.iter().for_each(|x| d.add(x, &r));
        let p = dir.path().join(format!("shard{k}"));
        d.write(&p, "shard").unwrap();
        // exact round trip
        let (back, source) = DamageProfile::read(&p).unwrap();
        assert_eq!(source, "shard");
        assert_eq!(back.misincorporation_txt("x"), d.misincorporation_txt("x"));
        assert_eq!(back.lengths_txt(), d.lengths_txt());
        assert_eq!(back.reads(), d.reads());
        shard_dirs.push(p);
    }
    // `crest damage` sums them into the whole library's profile
    let out = dir.path().join("merged");
    let args = crest::commands::damage::DamageArgs {
        profiles: shard_dirs.clone(),
        out: out.clone(),
        name: Some("lib".into()),
    };
    let merged = crest::commands::damage::damage(&args).unwrap();
    assert_eq!(merged.reads(), 3000);
    assert_eq!(
        std::fs::read_to_string(out.join("misincorporation.txt")).unwrap(),
        whole.misincorporation_txt("lib")
    );
    assert_eq!(
        std::fs::read_to_string(out.join("lgdistribution.txt")).unwrap(),
        whole.lengths_txt()
    );
    assert_eq!(
        std::fs::read_to_string(out.join("damage.tsv")).unwrap(),
        whole.tsv()
    );
    // profiles of different --damage-positions do not mix
    let mut short = DamageProfile::new(&r, 5);
    recs[..10].iter().for_each(|x| short.add(x, &r));
    let sp = dir.path().join("short");
    short.write(&sp, "short").unwrap();
    let args = crest::commands::damage::DamageArgs {
        profiles: vec![shard_dirs[0].clone(), sp.clone()],
        out: dir.path().join("mixed"),
        name: None,
    };
    let e = crest::commands::damage::damage(&args)
        .unwrap_err()
        .to_string();
    assert!(e.contains("positions") && e.contains("short"), "{e}");
    assert!(!dir.path().join("mixed").exists());
}

#[test]
fn a_damaged_table_names_the_file_and_line() {
    let r = Reference::load(&common::asset("phix174.fa")).unwrap();
    let mut d = DamageProfile::new(&r, 3);
    varied_records(&r, 50).iter().for_each(|x| d.add(x, &r));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p");
    d.write(&p, "t").unwrap();
    let mis = p.join("misincorporation.txt");
    let text = std::fs::read_to_string(&mis).unwrap();
    // a count that is not a number on the first data row (line 5)
    let broken = text.replacen("\t5p\t+\t1\t", "\t5p\t+\t1\tx", 1);
    std::fs::write(&mis, broken).unwrap();
    let e = DamageProfile::read(&p).unwrap_err().to_string();
    assert!(
        e.contains("misincorporation.txt") && e.contains("line 5"),
        "{e}"
    );
    std::fs::write(&mis, "").unwrap();
    assert!(DamageProfile::read(&p).is_err());
}

/// The damage profile of the true, ungapped alignments of reads simulated
/// from `r` (SAM holds forward-strand bases).
fn true_profile(r: &Reference, cfg: &crest::sim::SimConfig) -> DamageProfile {
    let mut fq = Vec::new();
    crest::sim::simulate(r, &[], cfg, &mut fq).unwrap();
    let fq = String::from_utf8(fq).unwrap();
    let lines: Vec<&str> = fq.lines().collect();
    let mut d = DamageProfile::new(r, 25);
    for rec in lines.chunks(4) {
        let name = rec[0][1..].split_whitespace().next().unwrap();
        let Some(crest::sim::Truth::Reference { start, reverse, .. }) =
            crest::sim::parse_truth(name)
        else {
            panic!("{name}");
        };
        let seq = if reverse {
            reverse_complement(rec[1].as_bytes())
        } else {
            rec[1].as_bytes().to_vec()
        };
        d.add(
            &SamRecord {
                name: name.into(),
                flag: if reverse { 16 } else { 0 },
                contig: Some(0),
                pos: Some(start),
                cigar: vec![(b'M', seq.len() as u32)],
                seq,
                ..Default::default()
            },
            r,
        );
    }
    d
}

/// `n` reads with `deamination` at the terminal base, halving per base.
fn damaged(n: usize, deamination: f64) -> crest::sim::SimConfig {
    crest::sim::SimConfig {
        n,
        seed: 5,
        deamination,
        decay: 0.5,
        substitution: 0.002,
        indel: 0.0,
        ..crest::sim::SimConfig::default()
    }
}

#[test]
fn damage_length_follows_the_library() {
    let r = Reference::load(&common::asset("mammoth_chrM.fa")).unwrap();
    // a modern library: nothing to forgive
    let fit = true_profile(&r, &damaged(3000, 0.0))
        .fit_damage_len(100)
        .unwrap();
    assert_eq!(fit.damage_len, 0, "{}", fit.summary());
    // heavy damage reaches further in than light damage
    let heavy = true_profile(&r, &damaged(3000, 0.6))
        .fit_damage_len(100)
        .unwrap();
    let light = true_profile(&r, &damaged(3000, 0.1))
        .fit_damage_len(100)
        .unwrap();
    assert!(
        heavy.damage_len > light.damage_len && light.damage_len >= 1,
        "{} / {}",
        heavy.summary(),
        light.summary()
    );
    // 0.6 · 0.5^i stays above 1% through i = 5
    assert!((5..=8).contains(&heavy.damage_len), "{}", heavy.summary());
}
