//! crest writes bwa aln's tags (XT, X0, X1, XM, XO, XG, XA) and AS/XS, and
//! where crest and bwa aln place a read identically the tags agree.

mod common;
use common::asset_str as asset;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

fn run(dir: &Path, prog: &str, args: &[&str], stdout: Option<&str>) {
    let mut c = Command::new(prog);
    c.current_dir(dir).args(args);
    if let Some(o) = stdout {
        c.stdout(std::fs::File::create(dir.join(o)).unwrap());
    }
    let o = c.output().expect(prog);
    assert!(
        o.status.success(),
        "{prog} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// name → (flag, pos, cigar, tags) of primary records.
fn records(p: &Path) -> HashMap<String, (u16, String, String, HashMap<String, String>)> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('@'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let tags = f[11..]
                .iter()
                .map(|t| (t[..2].to_string(), t[5..].to_string()))
                .collect();
            (
                f[0].to_string(),
                (
                    f[1].parse().unwrap(),
                    f[3].to_string(),
                    f[5].to_string(),
                    tags,
                ),
            )
        })
        .collect()
}

#[test]
fn tags_match_bwa_aln_where_the_placement_is_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (m, mt) = (asset("mammoth_chrM.crest"), asset("mammoth_chrM.fa"));
    std::fs::copy(&mt, d.join("mt.fa")).unwrap();
    run(
        d,
        env!("CARGO_BIN_EXE_crest"),
        &[
            "simulate",
            "--reference",
            &mt,
            "-n",
            "300",
            "--median",
            "40",
            "--seed",
            "9",
            "-o",
            "r.fq",
        ],
        None,
    );
    run(
        d,
        env!("CARGO_BIN_EXE_crest"),
        &[
            "map",
            "--model",
            &m,
            "--reference",
            &mt,
            "r.fq",
            "-o",
            "c.sam",
        ],
        None,
    );
    run(d, "bwa", &["index", "mt.fa"], None);
    run(
        d,
        "bwa",
        &[
            "aln", "-l", "1024", "-n", "0.01", "-o", "2", "mt.fa", "r.fq",
        ],
        Some("r.sai"),
    );
    run(
        d,
        "bwa",
        &["samse", "mt.fa", "r.sai", "r.fq"],
        Some("b.sam"),
    );
    let (c, b) = (records(&d.join("c.sam")), records(&d.join("b.sam")));
    let mut same = 0;
    for (name, (cf, cpos, ccig, ct)) in &c {
        if cf & 4 != 0 {
            assert!(!ct.contains_key("XT"), "{name}: an unmapped read with XT");
            continue;
        }
        for t in ["XT", "X0", "X1", "XM", "XO", "XG", "AS"] {
            assert!(ct.contains_key(t), "{name} lacks {t}");
        }
        let Some((bf, bpos, bcig, bt)) = b.get(name) else {
            continue;
        };
        if (cf, cpos, ccig) != (bf, bpos, bcig) || ct.get("NM") != bt.get("NM") {
            continue;
        }
        same += 1;
        for t in ["XT", "X0", "XM", "XO", "XG"] {
            assert_eq!(ct.get(t), bt.get(t), "{name}: {t} differs from bwa aln's");
        }
    }
    assert!(same >= 250, "only {same} of 300 reads placed identically");
}
