//! The trajectory of a query along the reference: a dot plot drawn from the
//! embedding placements (query position → reference position, forward
//! anchors blue, reverse red), with the calls marked.

use plotters::prelude::*;

use super::{Anchor, SvCall, SvKind};
use crate::error::{CrestError, Result};
use crate::io::Reference;

const FORWARD: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const REVERSE: RGBColor = RGBColor(0xd6, 0x27, 0x28);
const CALL: RGBColor = RGBColor(0x44, 0x44, 0x44);

/// One query's anchors, for the plot.
pub struct Track<'a> {
    /// Query length.
    pub len: u32,
    /// Its anchors.
    pub anchors: &'a [Anchor],
}

/// An SVG dot plot: queries side by side on the x axis (in input order),
/// the reference (contigs end to end) on the y axis; calls as grey bands
/// across the plot at their reference stretch.
pub fn dot_plot(
    tracks: &[Track],
    calls: &[SvCall],
    reference: &Reference,
    title: &str,
) -> Result<String> {
    let err = |e: String| CrestError::Invalid(format!("dot plot: {e}"));
    let mut offsets = vec![0u64];
    for c in &reference.contigs {
        offsets.push(offsets.last().copied().unwrap_or(0) + c.seq.len() as u64);
    }
    let ref_total = *offsets.last().unwrap_or(&1) as f64;
    let q_total: f64 = tracks.iter().map(|t| t.len as f64).sum::<f64>().max(1.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 640)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(75)
            .build_cartesian_2d(0.0..q_total, 0.0..ref_total)
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("query position (bp; queries end to end)")
            .y_desc("reference position (bp)")
            .draw()
            .map_err(|e| err(e.to_string()))?;
        // calls: a band over the reference stretch they touch
        for c in calls {
            let lo = (offsets[c.contig] + c.pos.saturating_sub(1)) as f64;
            let hi = match c.kind {
                SvKind::Bnd | SvKind::Ins => lo + ref_total / 400.0,
                _ => (offsets[c.contig] + c.end) as f64,
            };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(0.0, lo), (q_total, hi.max(lo + ref_total / 400.0))],
                    CALL.mix(0.15).filled(),
                )))
                .map_err(|e| err(e.to_string()))?;
        }
        let mut x0 = 0.0f64;
        for t in tracks {
            let lines: Vec<(RGBColor, [(f64, f64); 2])> = t
                .anchors
                .iter()
                .map(|a| {
                    let off = offsets[a.contig] as f64;
                    let at = |k: i64, q: u32| {
                        let r = if a.reverse {
                            k - q as i64
                        } else {
                            k + q as i64
                        };
                        off + r as f64
                    };
                    let colour = if a.reverse { REVERSE } else { FORWARD };
                    (
                        colour,
                        [
                            (x0 + a.q_start as f64, at(a.k_start, a.q_start)),
                            (x0 + a.q_end as f64, at(a.k_end, a.q_end.saturating_sub(1))),
                        ],
                    )
                })
                .collect();
            for (colour, seg) in lines {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        seg.to_vec(),
                        colour.stroke_width(3),
                    )))
                    .map_err(|e| err(e.to_string()))?;
            }
            x0 += t.len as f64;
        }
        for (name, colour) in [("forward", FORWARD), ("reverse", REVERSE)] {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(0.0, 0.0), (0.0, 0.0)],
                    colour.stroke_width(3),
                )))
                .map_err(|e| err(e.to_string()))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(3))
                });
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}
