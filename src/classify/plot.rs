//! Precision against fraction classified as the confidence threshold moves,
//! one line per level (SVG, plotters).

use std::path::Path;

use plotters::prelude::*;

use crate::error::{CrestError, Result};
use crate::plot::axis_floor;

const COLOURS: [RGBColor; 6] = [
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x8c, 0x56, 0x4b),
];

/// SVG text of the curves `(level name, [(fraction classified, precision)])`.
pub fn precision_svg(title: &str, curves: &[(String, Vec<(f64, f64)>)]) -> Result<String> {
    let err = |e: String| CrestError::Invalid(format!("plot: {e}"));
    let ylo = axis_floor(
        curves
            .iter()
            .flat_map(|(_, c)| c.iter().map(|p| p.1))
            .fold(1.0f64, f64::min),
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(55)
            .build_cartesian_2d(0f64..1f64, ylo..1.005f64)
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("fraction of queries classified (confidence ≥ threshold)")
            .y_desc("precision")
            .draw()
            .map_err(|e| err(e.to_string()))?;
        for (i, (name, pts)) in curves.iter().enumerate() {
            let colour = COLOURS[i % COLOURS.len()];
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), colour.stroke_width(2)))
                .map_err(|e| err(e.to_string()))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerLeft)
            .draw()
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// Write the plot to `path` (a regular file, never an input).
pub fn plot_precision(
    title: &str,
    curves: &[(String, Vec<(f64, f64)>)],
    path: &Path,
    inputs: &[&Path],
) -> Result<()> {
    let svg = precision_svg(title, curves)?;
    crate::io::output::write_all(path, inputs, svg.as_bytes())
}
