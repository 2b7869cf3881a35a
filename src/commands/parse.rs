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

/// A size in bytes: a whole number with an optional K, M or G suffix
/// (powers of 1024), e.g. `768M`; at least 1 MiB.
pub fn bytes(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (num, mult) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1usize << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let v: usize = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 512M, 2G)"))?;
    let b = v
        .checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too large"))?;
    if b < 1 << 20 {
        return Err(format!("'{s}' is less than 1M"));
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(bytes("768M"), Ok(768 << 20));
        assert_eq!(bytes("2g"), Ok(2 << 30));
        assert_eq!(bytes("4096k"), Ok(4 << 20));
        for bad in ["", "M", "1.5G", "-1M", "10", "512K", "99999999999999999G"] {
            assert!(bytes(bad).is_err(), "{bad}");
        }
    }

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
