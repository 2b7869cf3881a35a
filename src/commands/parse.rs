//! Range-checked parsers for numeric command-line options, so that NaN,
//! infinities, negative rates or fractions above 1 are refused by clap with
//! the option's name instead of changing results silently.

fn number(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number"))?;
    if !v.is_finite() {
        return Err(format!("'{s}' is not a finite number"));
    }
    Ok(v)
}

/// A probability or fraction: a finite number in [0, 1].
pub fn fraction(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("{v} is not in [0, 1]"));
    }
    Ok(v)
}

/// A finite number ≥ 0.
pub fn non_negative(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v < 0.0 {
        return Err(format!("{v} is negative"));
    }
    Ok(v)
}

/// A finite number > 0.
pub fn positive(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v <= 0.0 {
        return Err(format!("{v} is not positive"));
    }
    Ok(v)
}

/// A finite number > 0 that fits an f32.
pub fn positive_f32(s: &str) -> Result<f32, String> {
    let v = positive(s)?;
    if v > f32::MAX as f64 || (v as f32) == 0.0 {
        return Err(format!("{v} is out of range"));
    }
    Ok(v as f32)
}

/// A whole number ≥ 1.
pub fn count(s: &str) -> Result<usize, String> {
    let v: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a whole number ≥ 1"))?;
    if v == 0 {
        return Err("must be at least 1".into());
    }
    Ok(v)
}

/// A whole number ≥ 1, as u64.
pub fn count_u64(s: &str) -> Result<u64, String> {
    count(s).map(|v| v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_nan_infinite_and_out_of_range() {
        for bad in ["NaN", "nan", "inf", "-inf", "x", ""] {
            assert!(positive(bad).is_err(), "{bad}");
            assert!(fraction(bad).is_err(), "{bad}");
        }
        assert!(fraction("2").is_err());
        assert!(fraction("-0.1").is_err());
        assert_eq!(fraction("0.25"), Ok(0.25));
        assert!(positive("0").is_err());
        assert!(positive("-1").is_err());
        assert_eq!(non_negative("0"), Ok(0.0));
        assert!(non_negative("-1e-9").is_err());
        assert!(positive_f32("1e300").is_err());
        assert!(count("0").is_err());
        assert!(count("-3").is_err());
        assert_eq!(count("7"), Ok(7));
    }
}
