//! End to end: `crest simulate-sv` → `crest sv` finds the planted inversion
//! and deletion with the bundled multi-genome encoder, writes a VCF that
//! bcftools parses, BED and a dot plot; `crest sv-eval` scores it;
//! `crest profile` counts a tiny mix of panel and off-panel reads; bad
//! input fails with one clear error.

mod common;
use common::asset;

use std::path::PathBuf;
use std::process::Command;

/// The crest binary: (success, stdout, stderr).
fn crest(args: &[&str]) -> (bool, String, String) {
    let (code, out, err) = common::crest(args);
    (code == 0, out, err)
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("crest-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

const MODEL: &str = "saureus_lambda_phix_mtdna.crest";

#[test]
fn sv_finds_a_planted_inversion_and_deletion() {
    if common::gpu().is_none() {
        return;
    }
    let d = tmpdir("sv");
    let s = |p: &str| d.join(p).to_string_lossy().to_string();
    // the first 14 kbp of lambda (the encoder saw lambda in training)
    let lambda = crest::io::Reference::load(&asset("lambda_phage.fa")).unwrap();
    let piece = &lambda.contigs[0].seq[..14_000];
    let mut fa = b">lambda14k\n".to_vec();
    fa.extend_from_slice(piece);
    fa.push(b'\n');
    std::fs::write(d.join("ref.fa"), &fa).unwrap();
    let (ok, _, err) = crest(&[
        "simulate-sv",
        "--reference",
        &s("ref.fa"),
        "-o",
        &s("alt.fa"),
        "--vcf",
        &s("truth.vcf"),
        "--kinds",
        "inv,del",
        "--per-kind",
        "1",
        "--min-size",
        "1500",
        "--max-size",
        "3000",
        "--spacing",
        "1500",
        "--seed",
        "5",
    ]);
    assert!(ok, "{err}");
    let model = asset(MODEL).to_string_lossy().to_string();
    let (ok, _, err) = crest(&[
        "sv",
        "--model",
        &model,
        "--reference",
        &s("ref.fa"),
        &s("alt.fa"),
        "--step",
        "48",
        "-o",
        &s("calls.vcf"),
        "--bed",
        &s("calls.bed"),
        "--plot",
        &s("dot.svg"),
    ]);
    assert!(ok, "{err}");
    // bcftools parses it
    let o = Command::new("bcftools")
        .args(["view", "-H", &s("calls.vcf")])
        .output()
        .expect("bcftools is installed (apt-get install bcftools)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let records = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        records.contains("<INV>") && records.contains("<DEL>"),
        "{records}"
    );
    assert!(std::fs::read_to_string(d.join("calls.bed"))
        .unwrap()
        .contains("INV:"));
    assert!(std::fs::read_to_string(d.join("dot.svg"))
        .unwrap()
        .contains("<svg"));
    // both events found within 50 bp, nothing else called
    let (ok, out, err) = crest(&[
        "sv-eval",
        "--reference",
        &s("ref.fa"),
        "--truth",
        &s("truth.vcf"),
        &s("calls.vcf"),
        "--json",
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    for row in v["rows"].as_array().unwrap() {
        if row["size"] == "all" {
            assert_eq!(row["found"], row["truth"], "{row}");
            assert_eq!(row["true_calls"], row["calls"], "{row}");
        }
    }
    // same inputs → the same VCF (the source line names the command, which differs only in -o)
    let (ok, _, err) = crest(&[
        "sv",
        "--model",
        &model,
        "--reference",
        &s("ref.fa"),
        &s("alt.fa"),
        "--step",
        "48",
        "-o",
        &s("calls2.vcf"),
    ]);
    assert!(ok, "{err}");
    let body = |p: &str| {
        std::fs::read_to_string(d.join(p))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("##source"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(body("calls.vcf"), body("calls2.vcf"));
    // bad input: every query shorter than k
    std::fs::write(d.join("short.fa"), ">tiny\nACGTACGTAC\n").unwrap();
    let (ok, _, err) = crest(&[
        "sv",
        "--model",
        &model,
        "--reference",
        &s("ref.fa"),
        &s("short.fa"),
        "-o",
        &s("short.vcf"),
    ]);
    assert!(!ok);
    assert!(
        err.contains("shorter than the model's k") && err.contains("tiny"),
        "{err}"
    );
    assert!(!d.join("short.vcf").exists(), "no output on failure");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn profile_counts_a_tiny_mix_and_refuses_bad_panels() {
    if common::gpu().is_none() {
        return;
    }
    let d = tmpdir("profile");
    let s = |p: &str| d.join(p).to_string_lossy().to_string();
    // panel: lambda + phiX; reads: 120 lambda, 60 phiX, 60 mammoth mtDNA (off the panel)
    let mut panel = std::fs::read(asset("lambda_phage.fa")).unwrap();
    panel.extend(std::fs::read(asset("phix174.fa")).unwrap());
    std::fs::write(d.join("panel.fa"), &panel).unwrap();
    let mut fq = Vec::new();
    for (file, n, seed) in [
        ("lambda_phage.fa", 120, 11u64),
        ("phix174.fa", 60, 12),
        ("mammoth_chrM.fa", 60, 13),
    ] {
        let r = crest::io::Reference::load(&asset(file)).unwrap();
        let cfg = crest::sim::SimConfig {
            n,
            seed,
            median: 50.0,
            min_len: 30,
            ..crest::sim::SimConfig::default()
        };
        crest::sim::simulate(&r, &[], &cfg, &mut fq).unwrap();
    }
    std::fs::write(d.join("mix.fq"), &fq).unwrap();
    let reference = crest::io::Reference::load(&d.join("panel.fa")).unwrap();
    let groups = format!(
        "{}\tlambda\n{}\tphix\n",
        reference.contigs[0].name, reference.contigs[1].name
    );
    std::fs::write(d.join("groups.tsv"), groups).unwrap();
    let model = asset(MODEL).to_string_lossy().to_string();
    let (ok, _, err) = crest(&[
        "profile",
        "--model",
        &model,
        "--reference",
        &s("panel.fa"),
        &s("mix.fq"),
        "--groups",
        &s("groups.tsv"),
        "-o",
        &s("profile.tsv"),
        "--assignments",
        &s("assign.tsv"),
        "--plot",
        &s("profile.svg"),
    ]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(d.join("profile.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows[0], vec!["name", "reads", "fraction"]);
    let names: Vec<&str> = rows[1..].iter().map(|r| r[0]).collect();
    assert_eq!(names, vec!["lambda", "phix", "ambiguous", "unassigned"]);
    let reads = |i: usize| rows[i][1].parse::<u64>().unwrap();
    assert_eq!(reads(1) + reads(2) + reads(3) + reads(4), 240);
    assert!((114..=120).contains(&reads(1)), "{text}");
    assert!((57..=60).contains(&reads(2)), "{text}");
    assert!(reads(4) >= 57, "{text}");
    let sum: f64 = rows[1..].iter().map(|r| r[2].parse::<f64>().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-5);
    // per-read table: every off-panel (mammoth) read that was placed is named
    let assign = std::fs::read_to_string(d.join("assign.tsv")).unwrap();
    assert_eq!(assign.lines().count(), 241);
    assert!(std::fs::read_to_string(d.join("profile.svg"))
        .unwrap()
        .contains("<svg"));
    // a groups file that misses a contig
    std::fs::write(
        d.join("groups_bad.tsv"),
        format!("{}\tlambda\n", reference.contigs[0].name),
    )
    .unwrap();
    let (ok, _, err) = crest(&[
        "profile",
        "--model",
        &model,
        "--reference",
        &s("panel.fa"),
        &s("mix.fq"),
        "--groups",
        &s("groups_bad.tsv"),
        "-o",
        &s("bad.tsv"),
    ]);
    assert!(
        !ok && err.contains("groups_bad.tsv") && err.contains("no group"),
        "{err}"
    );
    assert!(!d.join("bad.tsv").exists());
    // a panel with a duplicate contig name
    let mut dup = std::fs::read(asset("phix174.fa")).unwrap();
    dup.extend(std::fs::read(asset("phix174.fa")).unwrap());
    std::fs::write(d.join("dup.fa"), &dup).unwrap();
    let (ok, _, err) = crest(&[
        "profile",
        "--model",
        &model,
        "--reference",
        &s("dup.fa"),
        &s("mix.fq"),
        "-o",
        &s("bad.tsv"),
    ]);
    assert!(
        !ok && err.contains("dup.fa") && err.contains("duplicate sequence name"),
        "{err}"
    );
    std::fs::remove_dir_all(&d).ok();
}
