//! Helpers shared by crest's SVG plots (bench, classify): a low room that
//! the plotting modules of higher ones import.

/// Lower end of a precision axis zoomed onto curves whose lowest value is
/// `min`: 0.02 below it, rounded down to a multiple of 0.02, in [0, 0.98]
/// (the curves of interest differ by points, not tens of points).
pub fn axis_floor(min: f64) -> f64 {
    (((min - 0.02) * 50.0).floor() / 50.0).clamp(0.0, 0.98)
}

#[cfg(test)]
mod tests {
    #[test]
    fn axis_floor_rounds_down_and_clamps() {
        assert!((super::axis_floor(0.955) - 0.92).abs() < 1e-12);
        assert_eq!(super::axis_floor(0.0), 0.0);
        assert_eq!(super::axis_floor(1.5), 0.98);
    }
}
