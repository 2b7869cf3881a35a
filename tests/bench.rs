//! `crest bench`: the scorer on hand-made SAM records, concordance, and the
//! whole command (crest + BWA-aln when installed) on simulated reads.

mod common;
use common::asset_str as asset;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use crest::bench::score::{concordance, read_placements, score_truth, Placement};

const HEADER: &str = "@HD\tVN:1.6\n@SQ\tSN:chrM\tLN:16770\n@SQ\tSN:other\tLN:1000\n";

fn rec(name: &str, flag: u16, rname: &str, pos: u64, mapq: u8) -> String {
    let (rname, pos, cigar) = if flag & 4 != 0 {
        ("*".to_string(), 0, "*")
    } else {
        (rname.to_string(), pos, "4M")
    };
    format!("{name}\t{flag}\t{rname}\t{pos}\t{mapq}\t{cigar}\t*\t0\t0\tACGT\tIIII\n")
}

fn write_sam(dir: &Path, records: &[String]) -> std::path::PathBuf {
    let p = dir.join("x.sam");
    std::fs::write(&p, format!("{HEADER}{}", records.concat())).unwrap();
    p
}

#[test]
fn scorer_counts_hand_made_records() {
    let dir = tempfile::tempdir().unwrap();
    // truth: chrM, 0-based start 100 (SAM POS 101)
    let names: Vec<String> = vec![
        "crest_0_chrM_100_+_40".into(),     // exact, MAPQ 37
        "crest_1_chrM_200_-_40".into(),     // 5 bp off (within tolerance), MAPQ 25
        "crest_2_chrM_300_+_40".into(),     // 6 bp off: wrong, MAPQ 30
        "crest_3_chrM_400_+_40".into(),     // wrong contig, MAPQ 0
        "crest_4_chrM_500_+_40".into(),     // unmapped
        "crest_5_contam_saureus.fa".into(), // contaminant placed, MAPQ 20
        "crest_6_contam_saureus.fa".into(), // contaminant unmapped
        "crest_7_chrM_700_+_40".into(),     // absent from the SAM: unmapped
    ];
    let sam = write_sam(
        dir.path(),
        &[
            rec(&names[0], 0, "chrM", 101, 37),
            rec(&names[1], 16, "chrM", 206, 25),
            rec(&names[1], 256, "chrM", 9000, 60), // secondary: ignored
            rec(&names[2], 0, "chrM", 307, 30),
            rec(&names[3], 0, "other", 401, 0),
            rec(&names[4], 4, "*", 0, 0),
            rec(&names[5], 0, "chrM", 50, 20),
            rec(&names[6], 4, "*", 0, 0),
        ],
    );
    let placed = read_placements(&sam).unwrap();
    assert_eq!(placed.len(), 7);
    assert_eq!(
        placed[&names[1]],
        Some(Placement {
            contig: "chrM".into(),
            pos0: 205,
            reverse: true,
            mapq: 25
        })
    );
    assert_eq!(placed[&names[4]], None);
    let s = score_truth(&names, &placed, 5).unwrap();
    assert_eq!(
        (s.reads, s.endogenous, s.contaminants, s.contaminants_mapped),
        (8, 6, 2, 1)
    );
    let row = |q: u8| s.rows.iter().find(|r| r.mapq == q).unwrap().clone();
    // MAPQ ≥ 0: mapped = reads 0,1,2,3 and the contaminant = 5; correct = 0,1
    assert_eq!((row(0).mapped, row(0).correct), (5, 2));
    assert!((row(0).precision - 0.4).abs() < 1e-12);
    assert!((row(0).recall - 2.0 / 6.0).abs() < 1e-12);
    // MAPQ ≥ 1: drops read 3
    assert_eq!((row(1).mapped, row(1).correct), (4, 2));
    // MAPQ ≥ 20: 0, 1, 2 and the contaminant (20)
    assert_eq!((row(20).mapped, row(20).correct), (4, 2));
    // MAPQ ≥ 25: 0, 1, 2
    assert_eq!((row(25).mapped, row(25).correct), (3, 2));
    // MAPQ ≥ 30: 0 and 2
    assert_eq!((row(30).mapped, row(30).correct), (2, 1));
    assert!((row(30).precision - 0.5).abs() < 1e-12);
    // a tighter tolerance makes read 1 wrong
    let s4 = score_truth(&names, &placed, 4).unwrap();
    assert_eq!(s4.rows[0].correct, 1);
    // the curve is monotone in mapped count
    assert!(s.curve.windows(2).all(|w| w[0].mapped >= w[1].mapped));
}

#[test]
fn scorer_refuses_reads_without_truth() {
    let placed = HashMap::new();
    let e = score_truth(&["SRR123.1".to_string()], &placed, 5)
        .unwrap_err()
        .to_string();
    assert!(e.contains("SRR123.1") && e.contains("--vs-bam"), "{e}");
}

#[test]
fn concordance_counts_same_placements() {
    let p = |c: &str, pos0: u64, reverse: bool, mapq: u8| {
        Some(Placement {
            contig: c.into(),
            pos0,
            reverse,
            mapq,
        })
    };
    let other: HashMap<String, Option<Placement>> = [
        ("a", p("chrM", 100, false, 37)),
        ("b", p("chrM", 200, true, 37)),
        ("c", p("chrM", 300, false, 10)),
        ("d", None),
        ("e", p("chrM", 500, false, 25)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let ours: HashMap<String, Option<Placement>> = [
        ("a", p("chrM", 103, false, 30)), // concordant
        ("b", p("chrM", 200, false, 30)), // wrong strand
        ("c", p("chrM", 300, false, 30)), // concordant (other MAPQ 10)
        ("d", p("chrM", 400, false, 30)), // ours only
        ("e", None),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let c = concordance(&ours, &other, 5);
    let at = |q: u8| c.iter().find(|x| x.mapq == q).unwrap().clone();
    assert_eq!((at(0).other, at(0).concordant, at(0).ours_only), (4, 2, 1));
    assert_eq!((at(25).other, at(25).concordant), (3, 1));
    assert_eq!(
        (at(30).other, at(30).concordant, at(30).ours_only),
        (2, 1, 1)
    );
}

/// The whole command on 80 simulated mammoth reads with 25% contamination
/// from phiX: both mappers' rows (BWA when installed; CI installs it), JSON,
/// an SVG plot, and the breakdown (crest's trace read back) with the MAPQ
/// calibration plot.
#[test]
fn bench_runs_both_mappers_and_writes_json_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("b.json");
    let svg = dir.path().join("pr.svg");
    let cal = dir.path().join("cal.svg");
    let have_bwa = Command::new("bwa").output().is_ok();
    let o = Command::new(env!("CARGO_BIN_EXE_crest"))
        .args([
            "bench",
            "--reference",
            &asset("mammoth_chrM.fa"),
            "--model",
            &asset("mammoth_chrM.crest"),
            "-n",
            "80",
            "--contaminant",
            &asset("phix174.fa"),
            "--contamination",
            "0.25",
            "--json",
        ])
        .arg(&json)
        .arg("--plot")
        .arg(&svg)
        .arg("--breakdown")
        .arg("--calibration-plot")
        .arg(&cal)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("| crest | 20 |"), "{out}");
    assert!(out.contains("crest: not proposed"), "{out}");
    assert!(out.contains("MAPQ calibration"), "{out}");
    if std::env::var("CREST_REQUIRE_ADAPTER").as_deref() == Ok("1") {
        assert!(have_bwa, "CI must install bwa");
    }
    if have_bwa {
        assert!(out.contains("| bwa aln | 20 |"), "{out}");
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let crest = &v["mappers"][0];
    assert_eq!(crest["name"], "crest");
    let t = &crest["truth"];
    assert_eq!(t["reads"], 80);
    assert!(t["contaminants"].as_u64().unwrap() > 5);
    // the bundled model places most endogenous reads correctly at MAPQ ≥ 20
    let r20 = t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["mapq"] == 20)
        .unwrap();
    assert!(r20["recall"].as_f64().unwrap() > 0.8, "{r20}");
    assert!(r20["precision"].as_f64().unwrap() > 0.9, "{r20}");
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("crest"),
        "not an SVG plot"
    );
    // breakdown: every endogenous read is in the "all" row of each table, and
    // each mapper's stages add up to it; crest's Q≥20 count equals the score's
    let endogenous = t["endogenous"].as_u64().unwrap();
    let correct20 = r20["correct"].as_u64().unwrap();
    let tables = v["breakdown"]["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 3);
    for table in tables {
        let all = table["rows"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(all["bin"], "all");
        assert_eq!(all["reads"].as_u64().unwrap(), endogenous);
        for st in all["stages"].as_array().unwrap() {
            let sum: u64 = st
                .as_object()
                .unwrap()
                .values()
                .map(|n| n.as_u64().unwrap())
                .sum();
            assert_eq!(sum, endogenous, "{st}");
        }
        assert_eq!(
            all["stages"][0]["Mapped"].as_u64().unwrap_or(0),
            correct20,
            "{all}"
        );
    }
    let cal = std::fs::read_to_string(&cal).unwrap();
    assert!(cal.starts_with("<svg") && cal.contains("MAPQ calibration"));
}

#[test]
fn breakdown_needs_the_truth_and_a_trace_is_not_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_crest"))
        .args([
            "bench",
            "--no-bwa",
            "--reference",
            &asset("mammoth_chrM.fa"),
            "--model",
            &asset("mammoth_chrM.crest"),
            "--vs-bam",
            "x.bam",
            "--breakdown",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--breakdown") && err.contains("--vs-bam"),
        "{err}"
    );
    let out = dir.path().join("o.sam");
    let reads = dir.path().join("r.fq");
    std::fs::write(
        &reads,
        "@r\nACGTACGTACGTACGTACGTACGT\n+\nIIIIIIIIIIIIIIIIIIIIIIII\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_crest"))
        .args([
            "map",
            "--reference",
            &asset("mammoth_chrM.fa"),
            "--model",
            &asset("mammoth_chrM.crest"),
            "-o",
        ])
        .arg(&out)
        .arg("--trace")
        .arg(&out)
        .arg(&reads)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--trace") && err.contains("same output"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn bench_on_real_reads_without_truth_says_to_use_vs_bam() {
    let dir = tempfile::tempdir().unwrap();
    let reads = dir.path().join("r.fq");
    std::fs::write(
        &reads,
        "@SRR1.1\nACGTACGTACGTACGTACGTACGTACGTAC\n+\nIIIIIIIIIIIIIIIIIIIIIIIIIIIIII\n",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_crest"))
        .args([
            "bench",
            "--no-bwa",
            "--reference",
            &asset("mammoth_chrM.fa"),
            "--model",
            &asset("mammoth_chrM.crest"),
            "--reads",
        ])
        .arg(&reads)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("SRR1.1") && err.contains("--vs-bam"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bench_with_a_missing_model_names_it_in_one_error_line() {
    let o = Command::new(env!("CARGO_BIN_EXE_crest"))
        .args([
            "bench",
            "--no-bwa",
            "--reference",
            &asset("mammoth_chrM.fa"),
            "--model",
            "/nonexistent/model.crest",
            "-n",
            "5",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        (last.starts_with("crest: error: crest index:")
            || last.starts_with("crest: error: crest map:"))
            && last.contains("/nonexistent/model.crest"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// A measured child's peak memory is its own, not the bench process's: a
/// child forked while this process holds 256 MiB must not report it (Linux
/// carries the parent's high-water mark into `wait4`'s figure).
#[test]
fn peak_memory_is_the_childs_own() {
    let big: Vec<u8> = (0..256usize << 20).map(|i| i as u8).collect();
    let cost = crest::bench::measure::run_measured("true", Command::new("true"), None).unwrap();
    assert!(big.iter().map(|&b| b as u64).sum::<u64>() > 0);
    assert!(
        cost.peak_rss_mib < 64.0,
        "`true` peaked at {:.0} MiB",
        cost.peak_rss_mib
    );
}
