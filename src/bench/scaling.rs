//! Cost per read against genome size (`crest scaling`): one point per
//! method and genome, from a bench report, and their markdown table. The
//! plot is `bench::plot::plot_scaling`.

use super::BenchReport;

/// One method on one genome.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ScalingPoint {
    /// Reference file.
    pub reference: String,
    /// Bases in it.
    pub genome_bp: u64,
    /// "crest tree", "crest flat" or "bwa aln".
    pub method: String,
    /// CPU milliseconds per read (mapping only).
    pub cpu_ms_per_read: f64,
    /// Wall milliseconds per read (mapping only).
    pub wall_ms_per_read: f64,
    /// Index build wall seconds, where measured.
    pub index_s: Option<f64>,
    /// Peak RSS of mapping (MiB).
    pub peak_rss_mib: f64,
    /// Recall at MAPQ ≥ 20.
    pub recall_q20: Option<f64>,
    /// Precision at MAPQ ≥ 20.
    pub precision_q20: Option<f64>,
}

/// The points of one genome's bench report, crest's named `crest_name`.
pub fn points(
    report: &BenchReport,
    reference: &str,
    bp: u64,
    crest_name: &str,
) -> Vec<ScalingPoint> {
    let n = report.reads.max(1) as f64;
    report
        .mappers
        .iter()
        .map(|m| {
            let q20 = m
                .truth
                .as_ref()
                .and_then(|t| t.rows.iter().find(|r| r.mapq == 20));
            ScalingPoint {
                reference: reference.to_string(),
                genome_bp: bp,
                method: if m.name == "crest" {
                    crest_name.to_string()
                } else {
                    m.name.clone()
                },
                cpu_ms_per_read: 1e3 * m.map.cpu_s / n,
                wall_ms_per_read: 1e3 * m.map.wall_s / n,
                index_s: m.index.map(|c| c.wall_s),
                peak_rss_mib: m.map.peak_rss_mib,
                recall_q20: q20.map(|r| r.recall),
                precision_q20: q20.map(|r| r.precision),
            }
        })
        .collect()
}

/// Markdown table of the points.
pub fn markdown(points: &[ScalingPoint]) -> String {
    let mut s = String::from("| reference | genome (bp) | method | CPU ms/read | wall ms/read | index (s) | recall Q≥20 | precision Q≥20 | peak RSS (MiB) |\n|---|---|---|---|---|---|---|---|---|\n");
    let f = |v: Option<f64>, d: usize| v.map_or("—".to_string(), |x| format!("{x:.d$}"));
    for p in points {
        s.push_str(&format!(
            "| {} | {} | {} | {:.3} | {:.3} | {} | {} | {} | {:.0} |\n",
            p.reference,
            p.genome_bp,
            p.method,
            p.cpu_ms_per_read,
            p.wall_ms_per_read,
            f(p.index_s, 1),
            f(p.recall_q20, 4),
            f(p.precision_q20, 4),
            p.peak_rss_mib
        ));
    }
    s
}
