//! Precision–recall over MAPQ thresholds, one line per mapper (SVG, plotters).

use std::path::Path;

use plotters::prelude::*;

use super::BenchReport;
use crate::error::{CrestError, Result};
use crate::plot::axis_floor;

const COLOURS: [RGBColor; 4] = [
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
];

/// Draw the precision–recall curves of every mapper with a truth score.
/// Points mark MAPQ 0, 1, 20, 25 and 30 (left to right: higher MAPQ, lower recall).
pub fn plot_pr(report: &BenchReport, title: &str, path: &Path) -> Result<()> {
    let err = |e: String| CrestError::Invalid(format!("{}: plot: {e}", path.display()));
    type Curve<'a> = (&'a str, Vec<(f64, f64)>, Vec<(f64, f64, u8)>);
    let curves: Vec<Curve> = report
        .mappers
        .iter()
        .filter_map(|m| {
            m.truth.as_ref().map(|t| {
                let line = t.curve.iter().map(|r| (r.recall, r.precision)).collect();
                let marks = t
                    .rows
                    .iter()
                    .map(|r| (r.recall, r.precision, r.mapq))
                    .collect();
                (m.name.as_str(), line, marks)
            })
        })
        .collect();
    if curves.is_empty() {
        return Err(err(
            "no mapper was scored against a truth (use simulated reads)".into(),
        ));
    }
    let ymin = curves
        .iter()
        .flat_map(|(_, l, _)| l.iter().map(|p| p.1))
        .fold(1.0f64, f64::min);
    let ylo = axis_floor(ymin);
    // zoom the recall axis onto the curves too (mappers differ by points, not tens of points)
    let xmin = curves
        .iter()
        .flat_map(|(_, l, _)| l.iter().map(|p| p.0))
        .fold(1.0f64, f64::min);
    let xlo = (((xmin - 0.05) * 20.0).floor() / 20.0).clamp(0.0, 0.95);
    let mut svg = String::new();
    let root = SVGBackend::with_string(&mut svg, (720, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(xlo..1.0f64, ylo..1.0f64)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("recall (correct / reads from the reference)")
        .y_desc("precision (correct / mapped)")
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for (i, (name, line, marks)) in curves.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(
                line.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|e| err(e.to_string()))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        chart
            .draw_series(
                marks
                    .iter()
                    .map(|&(x, y, _)| Circle::new((x, y), 4, colour.filled())),
            )
            .map_err(|e| err(e.to_string()))?;
        chart
            .draw_series(marks.iter().map(|&(x, y, q)| {
                Text::new(
                    format!("Q{q}"),
                    (x, y),
                    ("sans-serif", 11).into_font().color(&colour),
                )
            }))
            .map_err(|e| err(e.to_string()))?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .position(SeriesLabelPosition::LowerLeft)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    drop(chart);
    drop(root);
    crate::io::output::write_all(path, &[], svg.as_bytes())
}

/// Log-log plot of CPU milliseconds per read against genome size, one line
/// per method (points sorted by genome size).
pub fn plot_scaling(
    points: &[super::scaling::ScalingPoint],
    title: &str,
    path: &Path,
) -> Result<()> {
    let err = |e: String| CrestError::Invalid(format!("{}: plot: {e}", path.display()));
    if points.is_empty() {
        return Err(err("no points".into()));
    }
    let mut methods: Vec<&str> = points.iter().map(|p| p.method.as_str()).collect();
    methods.sort();
    methods.dedup();
    let xs = points.iter().map(|p| p.genome_bp.max(1) as f64);
    let ys = points.iter().map(|p| p.cpu_ms_per_read.max(1e-6));
    let (xmin, xmax) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let (ymin, ymax) = ys.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    let mut svg = String::new();
    let root = SVGBackend::with_string(&mut svg, (720, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(
            ((xmin / 2.0)..(xmax * 2.0)).log_scale(),
            ((ymin / 2.0)..(ymax * 2.0)).log_scale(),
        )
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("genome size (bp)")
        .y_desc("CPU ms per read (mapping)")
        .x_label_formatter(&|x| format!("{x:.0e}"))
        .y_label_formatter(&|y| format!("{y:.0e}"))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for (i, m) in methods.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mut line: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.method == *m)
            .map(|p| (p.genome_bp.max(1) as f64, p.cpu_ms_per_read.max(1e-6)))
            .collect();
        line.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(
                line.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|e| err(e.to_string()))?
            .label(*m)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        chart
            .draw_series(
                line.iter()
                    .map(|&(x, y)| Circle::new((x, y), 4, colour.filled())),
            )
            .map_err(|e| err(e.to_string()))?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    drop(chart);
    drop(root);
    crate::io::output::write_all(path, &[], svg.as_bytes())
}

/// Lowest error drawn on the calibration plot (bins with no wrong placement
/// are drawn here, hollow).
const CAL_FLOOR: f64 = 1e-4;

/// MAPQ calibration: per mapper and MAPQ bin, the observed error rate against
/// the one the MAPQs promise (log-log; the diagonal is perfect calibration,
/// the grey lines a factor of 2 either way). Bins with no wrong placement are
/// drawn hollow at 10⁻⁴; each point is labelled with its placed reads.
pub fn plot_calibration(report: &BenchReport, path: &Path) -> Result<()> {
    let err = |e: String| CrestError::Invalid(format!("{}: plot: {e}", path.display()));
    // per mapper: (promised, observed, placed, none wrong) per bin
    type Bins = Vec<(f64, f64, u64, bool)>;
    let series: Vec<(&str, Bins)> = report
        .mappers
        .iter()
        .filter_map(|m| {
            m.truth.as_ref().map(|t| {
                let pts = t
                    .calibration
                    .iter()
                    .filter(|r| r.placed > 0)
                    .map(|r| {
                        (
                            r.expected.max(CAL_FLOOR),
                            r.observed.max(CAL_FLOOR),
                            r.placed,
                            r.wrong == 0,
                        )
                    })
                    .collect();
                (m.name.as_str(), pts)
            })
        })
        .collect();
    if series.is_empty() {
        return Err(err(
            "no mapper was scored against a truth (use simulated reads)".into(),
        ));
    }
    let lo = CAL_FLOOR / 2.0;
    let mut svg = String::new();
    let root = SVGBackend::with_string(&mut svg, (720, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("MAPQ calibration — {} reads", report.reads),
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((lo..1.5f64).log_scale(), (lo..1.5f64).log_scale())
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("error the MAPQ promises (mean 10^(−MAPQ/10) of the bin)")
        .y_desc("observed fraction wrong")
        .x_label_formatter(&|x| format!("{x:.0e}"))
        .y_label_formatter(&|y| format!("{y:.0e}"))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    let grey = RGBColor(0xaa, 0xaa, 0xaa);
    for (f, style) in [
        (1.0, BLACK.stroke_width(1)),
        (2.0, grey.stroke_width(1)),
        (0.5, grey.stroke_width(1)),
    ] {
        chart
            .draw_series(LineSeries::new([(lo, lo * f), (1.5, 1.5 * f)], style))
            .map_err(|e| err(e.to_string()))?;
    }
    for (i, (name, pts)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        chart
            .draw_series(pts.iter().map(|&(x, y, _, zero)| {
                let style = if zero {
                    colour.stroke_width(2)
                } else {
                    colour.filled()
                };
                Circle::new((x, y), 5, style)
            }))
            .map_err(|e| err(e.to_string()))?
            .label(*name)
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, colour.filled()));
        chart
            .draw_series(pts.iter().map(|&(x, y, n, _)| {
                Text::new(
                    format!("n={n}"),
                    (x, y),
                    ("sans-serif", 11).into_font().color(&colour),
                )
            }))
            .map_err(|e| err(e.to_string()))?;
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))?;
    drop(chart);
    drop(root);
    crate::io::output::write_all(path, &[], svg.as_bytes())
}
