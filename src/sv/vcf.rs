//! Structural-variant calls as VCF 4.2 (symbolic alleles, BND breakends)
//! and BED, and the small VCF reader the evaluation needs.

use std::io::{BufRead, Write};
use std::path::Path;

use super::{SvCall, SvKind};
use crate::error::{CrestError, Result};
use crate::io::Reference;

/// Write a sites-only VCF: the header (contigs with lengths, the INFO and
/// ALT lines used) and one record per call, sorted by contig and position.
/// `source` names the caller and its command line.
pub fn write_vcf<W: Write>(
    w: &mut W,
    calls: &[SvCall],
    reference: &Reference,
    source: &str,
) -> std::io::Result<()> {
    writeln!(w, "##fileformat=VCFv4.2")?;
    writeln!(w, "##source={}", source.replace(['\n', '\r'], " "))?;
    for c in &reference.contigs {
        writeln!(w, "##contig=<ID={},length={}>", c.name, c.seq.len())?;
    }
    for (id, desc) in [
        ("DEL", "Deletion"),
        ("INS", "Insertion"),
        ("INV", "Inversion"),
        ("DUP", "Tandem duplication"),
    ] {
        writeln!(w, "##ALT=<ID={id},Description=\"{desc}\">")?;
    }
    for line in [
        "##INFO=<ID=SVTYPE,Number=1,Type=String,Description=\"Type of structural variant\">",
        "##INFO=<ID=SVLEN,Number=1,Type=Integer,Description=\"Length of the event (negative for deletions)\">",
        "##INFO=<ID=END,Number=1,Type=Integer,Description=\"Last affected base\">",
        "##INFO=<ID=CIPOS,Number=2,Type=Integer,Description=\"Confidence interval around POS\">",
        "##INFO=<ID=CIEND,Number=2,Type=Integer,Description=\"Confidence interval around END\">",
        "##INFO=<ID=MATEID,Number=1,Type=String,Description=\"ID of the mate breakend\">",
        "##INFO=<ID=SUPPORT,Number=1,Type=Integer,Description=\"Queries (contigs or reads) supporting the call\">",
    ] {
        writeln!(w, "{line}")?;
    }
    writeln!(w, "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")?;
    let mut sorted: Vec<&SvCall> = calls.iter().collect();
    sorted.sort_by_key(|c| (c.contig, c.pos, c.kind, c.end));
    for (i, c) in sorted.iter().enumerate() {
        let contig = &reference.contigs[c.contig];
        let pos = c.pos.clamp(1, contig.seq.len() as u64);
        let base = contig.seq[pos as usize - 1] as char;
        let id = format!("crest.{}.{}", c.kind.svtype(), i + 1);
        let alt = match (c.kind, c.mate) {
            (SvKind::Bnd, Some((mc, mp))) if c.switch => {
                format!("{base}]{}:{mp}]", reference.contigs[mc].name)
            }
            (SvKind::Bnd, Some((mc, mp))) => {
                format!("{base}[{}:{mp}[", reference.contigs[mc].name)
            }
            _ => format!("<{}>", c.kind.svtype()),
        };
        let mut info = format!("SVTYPE={}", c.kind.svtype());
        if c.kind != SvKind::Bnd {
            info += &format!(";SVLEN={};END={}", c.svlen(), c.end.max(pos));
        }
        info += &format!(";CIPOS=-{},{}", c.cipos.0, c.cipos.1);
        if c.kind != SvKind::Bnd && c.kind != SvKind::Ins {
            info += &format!(";CIEND=-{},{}", c.ciend.0, c.ciend.1);
        }
        info += &format!(";SUPPORT={}", c.support);
        writeln!(
            w,
            "{}\t{pos}\t{id}\t{base}\t{alt}\t.\tPASS\t{info}",
            contig.name
        )?;
    }
    Ok(())
}

/// Write calls as BED (0-based, half-open): contig, start, end, name
/// (`TYPE:SVLEN`, or `BND:mate` for breakends), support.
pub fn write_bed<W: Write>(
    w: &mut W,
    calls: &[SvCall],
    reference: &Reference,
) -> std::io::Result<()> {
    let mut sorted: Vec<&SvCall> = calls.iter().collect();
    sorted.sort_by_key(|c| (c.contig, c.pos, c.kind, c.end));
    for c in sorted {
        let name = &reference.contigs[c.contig].name;
        let (start, end, label) = match (c.kind, c.mate) {
            (SvKind::Bnd, Some((mc, mp))) => (
                c.pos.saturating_sub(1),
                c.pos,
                format!("BND:{}:{mp}", reference.contigs[mc].name),
            ),
            (SvKind::Ins, _) => (c.pos, c.pos + 1, format!("INS:{}", c.svlen())),
            _ => (
                c.pos,
                c.end.max(c.pos + 1),
                format!("{}:{}", c.kind.svtype(), c.svlen()),
            ),
        };
        writeln!(w, "{name}\t{start}\t{end}\t{label}\t{}", c.support)?;
    }
    Ok(())
}

/// Parse a BND ALT (`N[chr:pos[`, `N]chr:pos]`, `[chr:pos[N`, `]chr:pos]N`)
/// into the mate's contig name and position.
fn bnd_mate(alt: &str) -> Option<(String, u64)> {
    let open = alt.find(['[', ']'])?;
    let close = alt[open + 1..].find(['[', ']'])? + open + 1;
    let inner = &alt[open + 1..close];
    let (ctg, pos) = inner.rsplit_once(':')?;
    Some((ctg.to_string(), pos.parse().ok()?))
}

/// Read the structural variants of a VCF (symbolic `<DEL>` etc. with
/// SVTYPE/END/SVLEN, or BND records) against `reference`'s contig names.
///
/// (See also [`check_contig_names`] for what VCF allows as a contig name.)
/// Records of other kinds (SNVs) are skipped; a malformed record is an
/// error naming the file and line.
pub fn read_vcf(path: &Path, reference: &Reference) -> Result<Vec<SvCall>> {
    let file = std::fs::File::open(path).map_err(|e| CrestError::io(path, e))?;
    let reader = std::io::BufReader::new(file);
    let contig_of = |name: &str| reference.contigs.iter().position(|c| c.name == name);
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| CrestError::io(path, e))?;
        let bad = |m: String| CrestError::Format {
            path: path.into(),
            record: i as u64 + 1,
            message: m,
        };
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 8 {
            return Err(bad(format!(
                "{} columns, a VCF record has at least 8",
                f.len()
            )));
        }
        let contig = contig_of(f[0])
            .ok_or_else(|| bad(format!("contig '{}' is not in the reference", f[0])))?;
        let pos: u64 = f[1]
            .parse()
            .map_err(|_| bad(format!("POS '{}' is not a number", f[1])))?;
        let info = |key: &str| {
            f[7].split(';').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k == key).then(|| v.to_string())
            })
        };
        let kind = info("SVTYPE")
            .and_then(|t| SvKind::from_svtype(&t))
            .or_else(|| {
                let a = f[4].trim_start_matches('<').trim_end_matches('>');
                SvKind::from_svtype(a.split(':').next().unwrap_or(""))
            })
            .or_else(|| bnd_mate(f[4]).map(|_| SvKind::Bnd));
        let Some(kind) = kind else {
            continue;
        };
        let ci = |key: &str| -> Result<(u32, u32)> {
            match info(key) {
                None => Ok((0, 0)),
                Some(v) => {
                    let p: Vec<i64> = v.split(',').filter_map(|x| x.parse().ok()).collect();
                    if p.len() != 2 {
                        return Err(bad(format!("{key}={v} is not two integers")));
                    }
                    Ok((p[0].unsigned_abs() as u32, p[1].unsigned_abs() as u32))
                }
            }
        };
        let mut call = SvCall {
            kind,
            contig,
            pos,
            end: pos,
            len: 0,
            cipos: ci("CIPOS")?,
            ciend: ci("CIEND")?,
            mate: None,
            support: info("SUPPORT").and_then(|s| s.parse().ok()).unwrap_or(1),
            // `N]chr:p]` / `[chr:p[N`: the joined piece is reverse-complemented
            switch: f[4].starts_with('[') || (f[4].contains(']') && !f[4].starts_with(']')),
        };
        if kind == SvKind::Bnd {
            let (mc, mp) =
                bnd_mate(f[4]).ok_or_else(|| bad(format!("BND ALT '{}' has no mate", f[4])))?;
            let mc = contig_of(&mc)
                .ok_or_else(|| bad(format!("mate contig '{mc}' is not in the reference")))?;
            call.mate = Some((mc, mp));
        } else {
            let svlen: Option<i64> = info("SVLEN").and_then(|s| s.parse().ok());
            let end: Option<u64> = info("END").and_then(|s| s.parse().ok());
            call.end = match (end, svlen, kind) {
                (_, _, SvKind::Ins) => pos,
                (Some(e), _, _) => e,
                (None, Some(l), _) => pos.saturating_add(l.unsigned_abs()),
                (None, None, _) => return Err(bad("a symbolic SV needs END or SVLEN".into())),
            };
            if call.end < pos {
                return Err(bad(format!("END {} is before POS {pos}", call.end)));
            }
            call.len = match svlen {
                Some(l) => l.unsigned_abs(),
                None => call.end - pos,
            };
        }
        out.push(call);
    }
    Ok(out)
}

/// Refuse contig names VCF does not allow (see
/// [`Reference::check_contig_names`]).
pub fn check_contig_names(reference: &Reference, path: &Path) -> Result<()> {
    reference.check_contig_names(path, "VCF")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::reference::Contig;

    #[test]
    fn write_then_read_round_trips() {
        let reference = Reference {
            contigs: vec![
                Contig {
                    name: "chrA".into(),
                    seq: b"ACGT".repeat(500),
                    md5: String::new(),
                },
                Contig {
                    name: "chr:B".into(),
                    seq: b"TTGCA".repeat(300),
                    md5: String::new(),
                },
            ],
        };
        let mk = |kind, pos, end, len| SvCall {
            kind,
            contig: 0,
            pos,
            end,
            len,
            cipos: (3, 4),
            ciend: (1, 2),
            mate: None,
            support: 2,
            switch: false,
        };
        let mut bnd = mk(SvKind::Bnd, 700, 700, 0);
        bnd.mate = Some((1, 1234));
        bnd.ciend = (0, 0);
        let mut bnd2 = bnd.clone();
        bnd2.pos = 900;
        bnd2.end = 900;
        bnd2.switch = true;
        let mut ins = mk(SvKind::Ins, 300, 300, 77);
        ins.ciend = (0, 0);
        let calls = vec![
            mk(SvKind::Inv, 1000, 1500, 500),
            mk(SvKind::Del, 100, 250, 150),
            ins,
            mk(SvKind::Dup, 1600, 1800, 200),
            bnd,
            bnd2,
        ];
        let mut buf = Vec::new();
        write_vcf(&mut buf, &calls, &reference, "test").unwrap();
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(text.contains("SVLEN=-150;END=250"), "{text}");
        assert!(text.contains("[chr:B:1234["), "{text}");
        assert!(text.contains("]chr:B:1234]"), "{text}");
        let dir = std::env::temp_dir().join(format!("crest-vcf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.vcf");
        std::fs::write(&p, &buf).unwrap();
        let mut back = read_vcf(&p, &reference).unwrap();
        let mut want = calls.clone();
        back.sort_by_key(|c| c.pos);
        want.sort_by_key(|c| c.pos);
        assert_eq!(back, want);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn malformed_record_names_the_line() {
        let reference = Reference {
            contigs: vec![Contig {
                name: "c".into(),
                seq: b"ACGT".to_vec(),
                md5: String::new(),
            }],
        };
        let dir = std::env::temp_dir().join(format!("crest-vcf-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bad.vcf");
        std::fs::write(
            &p,
            "##fileformat=VCFv4.2\n#CHROM\tPOS\nc\tx\t.\tA\t<DEL>\t.\tPASS\tSVTYPE=DEL\n",
        )
        .unwrap();
        let e = read_vcf(&p, &reference).unwrap_err().to_string();
        assert!(e.contains("bad.vcf") && e.contains('3'), "{e}");
        std::fs::write(&p, "zz\t5\t.\tA\t<DEL>\t.\tPASS\tSVTYPE=DEL;END=9\n").unwrap();
        let e = read_vcf(&p, &reference).unwrap_err().to_string();
        assert!(e.contains("'zz'"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
