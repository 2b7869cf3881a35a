//! Species profiles of a (metagenomic, often ancient) read set against a
//! panel of genomes: each read mapped by the network-proposal mapper is
//! assigned to the genome (or group from a contig→group table) of its
//! placement; reads that map nowhere are "unassigned" — the disjoint-
//! sequence case, DNA from genomes outside the panel.
//!
//! Reads placed with MAPQ below the threshold are assigned when every hit
//! tied with the best lies in one group (a repeat within a genome says
//! nothing against the genome), and counted as **ambiguous** otherwise:
//! they are neither split between genomes nor dropped, so fractions over
//! all reads add up to one.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;

use crate::error::{CrestError, Result};
use crate::io::{Reference, SamRecord};

/// Contig → group (genome or taxon) table.
#[derive(Clone, Debug)]
pub struct Groups {
    /// Group names in first-seen order (panel order without a table).
    pub names: Vec<String>,
    /// Group of each reference contig (index into `names`).
    pub of_contig: Vec<usize>,
}

impl Groups {
    /// One group per contig, named after it.
    pub fn per_contig(reference: &Reference) -> Groups {
        Groups {
            names: reference.contigs.iter().map(|c| c.name.clone()).collect(),
            of_contig: (0..reference.contigs.len()).collect(),
        }
    }

    /// Read a two-column TSV (contig, group; `#` comments and blank lines
    /// skipped). Every panel contig must be listed once; a contig the panel
    /// lacks, a repeated contig, a line without two columns or a missing
    /// contig is an error naming the file (and line).
    pub fn load(path: &Path, reference: &Reference) -> Result<Groups> {
        let file = std::fs::File::open(path).map_err(|e| CrestError::io(path, e))?;
        let index: HashMap<&str, usize> = reference
            .contigs
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_str(), i))
            .collect();
        let mut names: Vec<String> = Vec::new();
        let mut of_contig: Vec<Option<usize>> = vec![None; reference.contigs.len()];
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|e| CrestError::io(path, e))?;
            let bad = |m: String| CrestError::Format {
                path: path.into(),
                record: i as u64 + 1,
                message: m,
            };
            let t = line.trim_end_matches(['\r', '\n']);
            if t.trim().is_empty() || t.starts_with('#') {
                continue;
            }
            let f: Vec<&str> = t.split('\t').collect();
            if f.len() < 2 || f[1].trim().is_empty() {
                return Err(bad(
                    "expected two tab-separated columns: contig, group".into()
                ));
            }
            let &ci = index
                .get(f[0])
                .ok_or_else(|| bad(format!("contig '{}' is not in the panel", f[0])))?;
            if of_contig[ci].is_some() {
                return Err(bad(format!("contig '{}' is listed twice", f[0])));
            }
            let g = f[1].trim();
            let gi = match names.iter().position(|n| n == g) {
                Some(gi) => gi,
                None => {
                    names.push(g.to_string());
                    names.len() - 1
                }
            };
            of_contig[ci] = Some(gi);
        }
        let missing: Vec<&str> = of_contig
            .iter()
            .zip(&reference.contigs)
            .filter(|(g, _)| g.is_none())
            .map(|(_, c)| c.name.as_str())
            .collect();
        if let Some(first) = missing.first() {
            return Err(CrestError::Invalid(format!(
                "{}: {} panel contig(s) have no group, e.g. '{first}': list every contig",
                path.display(),
                missing.len()
            )));
        }
        Ok(Groups {
            names,
            of_contig: of_contig.into_iter().map(|g| g.expect("checked")).collect(),
        })
    }
}

/// Where one read went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignment {
    /// A group (index into [`Groups::names`]).
    Group(usize),
    /// Placed, but tied between groups below the MAPQ threshold.
    Ambiguous,
    /// Not placed (or not mappable).
    Unassigned,
}

/// Assign one mapped record (with the contigs of its tied hits).
pub fn assign(rec: &SamRecord, tied: &[usize], groups: &Groups, min_mapq: u8) -> Assignment {
    let Some(ci) = rec.contig.filter(|_| !rec.is_unmapped()) else {
        return Assignment::Unassigned;
    };
    let g = groups.of_contig[ci];
    if rec.mapq >= min_mapq || tied.iter().all(|&c| groups.of_contig[c] == g) {
        Assignment::Group(g)
    } else {
        Assignment::Ambiguous
    }
}

/// Read counts per group, ambiguous and unassigned.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Profile {
    /// Group names.
    pub names: Vec<String>,
    /// Reads per group.
    pub reads: Vec<u64>,
    /// Reads tied between groups.
    pub ambiguous: u64,
    /// Reads placed nowhere.
    pub unassigned: u64,
}

impl Profile {
    /// An empty profile over `groups`.
    pub fn new(groups: &Groups) -> Profile {
        Profile {
            names: groups.names.clone(),
            reads: vec![0; groups.names.len()],
            ambiguous: 0,
            unassigned: 0,
        }
    }

    /// Count one read.
    pub fn add(&mut self, a: Assignment) {
        match a {
            Assignment::Group(g) => self.reads[g] += 1,
            Assignment::Ambiguous => self.ambiguous += 1,
            Assignment::Unassigned => self.unassigned += 1,
        }
    }

    /// All reads counted.
    pub fn total(&self) -> u64 {
        self.reads.iter().sum::<u64>() + self.ambiguous + self.unassigned
    }

    /// Rows (name, reads, fraction of all reads): groups in order, then
    /// `ambiguous` and `unassigned`.
    pub fn rows(&self) -> Vec<(String, u64, f64)> {
        let t = self.total().max(1) as f64;
        let mut v: Vec<(String, u64, f64)> = self
            .names
            .iter()
            .zip(&self.reads)
            .map(|(n, &r)| (n.clone(), r, r as f64 / t))
            .collect();
        v.push((
            "ambiguous".into(),
            self.ambiguous,
            self.ambiguous as f64 / t,
        ));
        v.push((
            "unassigned".into(),
            self.unassigned,
            self.unassigned as f64 / t,
        ));
        v
    }

    /// The TSV: header `name reads fraction`, one row per group, then
    /// `ambiguous` and `unassigned`.
    pub fn write_tsv<W: Write>(&self, w: &mut W) -> std::io::Result<()> {
        writeln!(w, "name\treads\tfraction")?;
        for (n, r, f) in self.rows() {
            writeln!(w, "{n}\t{r}\t{f:.6}")?;
        }
        Ok(())
    }
}

/// A horizontal bar chart of the fractions (SVG).
pub fn plot(profile: &Profile, title: &str) -> Result<String> {
    use plotters::prelude::*;
    let err = |e: String| CrestError::Invalid(format!("profile plot: {e}"));
    let rows = profile.rows();
    let n = rows.len();
    let mut svg = String::new();
    {
        let h = 120 + 34 * n as u32;
        let root = SVGBackend::with_string(&mut svg, (720, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let labels: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
        let xmax = rows.iter().map(|r| r.2).fold(0.0f64, f64::max).max(0.05) * 1.15;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(150)
            .build_cartesian_2d(0.0..xmax, 0.0..n as f64)
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            // ticks every half unit: the names sit at the bar centres (i + 0.5)
            .y_labels(2 * n + 1)
            .y_label_formatter(&|y| {
                let i = y.floor() as usize;
                if (*y - i as f64 - 0.5).abs() < 1e-6 && i < n {
                    labels[n - 1 - i].clone()
                } else {
                    String::new()
                }
            })
            .x_desc("fraction of all reads")
            .draw()
            .map_err(|e| err(e.to_string()))?;
        for (i, (name, reads, f)) in rows.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let colour = match name.as_str() {
                "ambiguous" => RGBColor(0xbb, 0xbb, 0xbb),
                "unassigned" => RGBColor(0x88, 0x88, 0x88),
                _ => RGBColor(0x1f, 0x77, 0xb4),
            };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, y + 0.15), (*f, y + 0.85)],
                    colour.filled(),
                )))
                .map_err(|e| err(e.to_string()))?;
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{f:.3} ({reads})"),
                    (*f + xmax * 0.01, y + 0.65),
                    ("sans-serif", 12).into_font(),
                )))
                .map_err(|e| err(e.to_string()))?;
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::reference::Contig;

    fn panel() -> Reference {
        let c = |n: &str| Contig {
            name: n.into(),
            seq: b"ACGT".to_vec(),
            md5: String::new(),
        };
        Reference {
            contigs: vec![c("a1"), c("a2"), c("b1")],
        }
    }

    fn rec(contig: Option<usize>, mapq: u8) -> SamRecord {
        let mut r = SamRecord::unmapped("r", b"ACGT", b"");
        if let Some(c) = contig {
            r.flag = 0;
            r.contig = Some(c);
            r.pos = Some(0);
        }
        r.mapq = mapq;
        r
    }

    #[test]
    fn assignment_rules_and_counts() {
        let dir = std::env::temp_dir().join(format!("crest-groups-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("g.tsv");
        std::fs::write(&p, "# contig\tgroup\na1\tA\na2\tA\nb1\tB\n").unwrap();
        let g = Groups::load(&p, &panel()).unwrap();
        assert_eq!(g.names, vec!["A", "B"]);
        let mut prof = Profile::new(&g);
        // confident, a repeat inside A at MAPQ 0, a tie between A and B, unmapped
        prof.add(assign(&rec(Some(2), 37), &[2], &g, 1));
        prof.add(assign(&rec(Some(0), 0), &[0, 1], &g, 1));
        prof.add(assign(&rec(Some(0), 0), &[0, 2], &g, 1));
        prof.add(assign(&rec(None, 0), &[], &g, 1));
        prof.add(assign(&rec(Some(1), 25), &[1], &g, 1));
        assert_eq!(prof.reads, vec![2, 1]);
        assert_eq!((prof.ambiguous, prof.unassigned, prof.total()), (1, 1, 5));
        let mut out = Vec::new();
        prof.write_tsv(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "name\treads\tfraction\nA\t2\t0.400000\nB\t1\t0.200000\nambiguous\t1\t0.200000\nunassigned\t1\t0.200000\n"
        );
        assert!(plot(&prof, "t").unwrap().contains("<svg"));
        // bad tables
        std::fs::write(&p, "a1\tA\nb1\tB\n").unwrap();
        let e = Groups::load(&p, &panel()).unwrap_err().to_string();
        assert!(
            e.contains("1 panel contig(s) have no group") && e.contains("a2"),
            "{e}"
        );
        std::fs::write(&p, "a1\tA\na2\tA\nb1\tB\nzz\tC\n").unwrap();
        let e = Groups::load(&p, &panel()).unwrap_err().to_string();
        assert!(
            e.contains("'zz' is not in the panel") && e.contains('4'),
            "{e}"
        );
        std::fs::write(&p, "a1\tA\na1\tB\n").unwrap();
        assert!(Groups::load(&p, &panel())
            .unwrap_err()
            .to_string()
            .contains("twice"));
        std::fs::write(&p, "a1 A\n").unwrap();
        assert!(Groups::load(&p, &panel())
            .unwrap_err()
            .to_string()
            .contains("two tab-separated"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
