//! Range-checked parsers for numeric command-line options, so that NaN,
//! infinities, negative rates or fractions above 1 are refused by clap with
//! the option's name instead of changing results silently, and every count
//! or size option has an upper bound (the `MAX_*` constants, named in its
//! help and its error) instead of overflowing or asking for an impossible
//! allocation.

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

// Upper bounds of count and size options. Each is far above real use and
// low enough that no product of it with a per-item size overflows or asks
// for an impossible allocation before anything is read.

/// Threads (`-t`).
pub const MAX_THREADS: u64 = 1024;
/// Reads (or windows) per batch of `map`, `profile` and `sv` (`--batch`).
pub const MAX_BATCH: u64 = 1 << 20;
/// Examples per training step (`train`/`demo`/`classify train --batch`, `index --route-batch`).
pub const MAX_TRAIN_BATCH: u64 = 1 << 16;
/// Widths of layers: channels, embedding, projection and hidden sizes.
pub const MAX_DIM: u64 = 4096;
/// Residual conv blocks of `train`.
pub const MAX_BLOCKS: u64 = 64;
/// k-mer length of `train` (the encoder's own limit).
pub const MAX_K: u64 = 1024;
/// Conv kernel width of `train`.
pub const MAX_KERNEL: u64 = 64;
/// Optimiser steps (and step intervals) of any training.
pub const MAX_STEPS: u64 = 100_000_000;
/// Epochs and patience of `classify train`.
pub const MAX_EPOCHS: u64 = 100_000;
/// Held-out queries of `eval-embed` and `train --eval-queries`.
pub const MAX_QUERIES: u64 = 1_000_000;
/// Reads simulated (`simulate -n`, `demo --reads`).
pub const MAX_READS: u64 = 1_000_000_000;
/// Long reads drawn by `simulate-sv --long-reads` (held in memory).
pub const MAX_LONG_READS: u64 = 1_000_000;
/// Lengths of reads, fragments and windows (bp).
pub const MAX_LEN: u64 = 10_000_000;
/// Input length of a CNN classifier (`classify train --len`, bp).
pub const MAX_CNN_LEN: u64 = 100_000;
/// Strides between windows or grid k-mers (bp).
pub const MAX_STRIDE: u64 = 65_536;
/// Distances, event sizes and tolerances (bp).
pub const MAX_BASES: u64 = 1_000_000_000;
/// Genome sizes (bp).
pub const MAX_GENOME: u64 = 1_000_000_000_000;
/// Γ and d of `train` / `eval-embed` (bp).
pub const MAX_GAMMA: u64 = 1_000_000;
/// Beam width of a tree search (the tree kernels' 1024 children over the
/// smallest branching, 2).
pub const MAX_BEAM: u64 = 512;
/// Leaves the router proposes per window (a power of two).
pub const MAX_ROUTE_WIDTH: u64 = 256;
/// Candidate loci verified per read or window.
pub const MAX_CANDIDATES: u64 = 4096;
/// Nearest grid k-mers searched per read (`map --read-neighbours`).
pub const MAX_NEIGHBOURS: u64 = 4096;
/// Window lengths of the rescue pass (`map --rescue-views`).
pub const MAX_RESCUE_VIEWS: u64 = 64;
/// Positions from a read end (`--damage-positions`, `--damage-len`).
pub const MAX_DAMAGE_POSITIONS: u64 = 1000;
/// Tree depth (a path code holds 32 bits; branching ≥ 2).
pub const MAX_DEPTH: u64 = 32;
/// Grid k-mers per leaf.
pub const MAX_LEAF: u64 = 1 << 20;
/// Lloyd iterations per tree level.
pub const MAX_ITERS: u64 = 1000;
/// Hits per query of `classify`.
pub const MAX_HITS: u64 = 1000;
/// Windows per sequence in a `classify train` step (the pooled encoder's limit).
pub const MAX_TRAIN_WINDOWS: u64 = 1024;
/// Window length of a fresh `classify train` conv encoder (the encoder's k limit).
pub const MAX_WINDOW: u64 = 1024;
/// Events of each kind planted by `simulate-sv`.
pub const MAX_EVENTS: u64 = 100_000;
/// Queries supporting, or anchors placing, an SV call.
pub const MAX_SUPPORT: u64 = 1_000_000;
/// Size multiplier of `selftest --scale`.
pub const MAX_SCALE: u64 = 64;
/// Timed repetitions of `selftest --reps`.
pub const MAX_REPS: u64 = 1000;
/// Memory of `map --sort-memory` (1 TiB).
pub const MAX_MEMORY: usize = 1 << 40;

/// A whole number in `min..=max`; the message names the limit (clap adds
/// the option's name).
fn whole_in(s: &str, min: u64, max: u64) -> Result<u64, String> {
    let t = s.trim();
    let v: u64 = match t.parse() {
        Ok(v) => v,
        Err(_) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(format!("{t} is above the limit of {max}"))
        }
        Err(_) => return Err(format!("'{s}' is not a whole number from {min} to {max}")),
    };
    if v > max {
        return Err(format!("{v} is above the limit of {max}"));
    }
    if v < min {
        return Err(match min {
            1 => "must be at least 1".into(),
            _ => format!("{v} is below the minimum of {min}"),
        });
    }
    Ok(v)
}

macro_rules! bounded {
    ($(#[$doc:meta])* $name:ident, $t:ty) => {
        $(#[$doc])*
        pub fn $name(
            min: u64,
            max: u64,
        ) -> impl Fn(&str) -> Result<$t, String> + Clone + Send + Sync + 'static {
            move |s| {
                let v = whole_in(s, min, max)?;
                <$t>::try_from(v).map_err(|_| format!("{v} is above the limit of {}", <$t>::MAX))
            }
        }
    };
}

bounded!(
    /// A parser of whole numbers in `min..=max` as usize, for count and size options.
    usize_in,
    usize
);
bounded!(
    /// A parser of whole numbers in `min..=max` as u64.
    u64_in,
    u64
);
bounded!(
    /// A parser of whole numbers in `min..=max` as u32.
    u32_in,
    u32
);
bounded!(
    /// A parser of whole numbers in `min..=max` as i64 (never negative).
    i64_in,
    i64
);

/// A parser of `keyword` or a whole number up to `max`, either handed on to
/// `then` (e.g. `--damage-len auto|N`).
pub fn keyword_or_upto<T: Clone + Send + Sync + 'static>(
    keyword: &'static str,
    max: u64,
    then: fn(&str) -> Result<T, String>,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |s| {
        if s != keyword {
            whole_in(s, 0, max).map_err(|e| format!("expected {keyword} or a number: {e}"))?;
        }
        then(s)
    }
}

/// A size in bytes: a whole number with an optional K, M or G suffix
/// (powers of 1024), e.g. `768M`; from 1 MiB to 1 TiB ([`MAX_MEMORY`]).
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
    if b > MAX_MEMORY {
        return Err(format!("'{s}' is above the limit of 1024G"));
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
        assert_eq!(bytes("1024G"), Ok(MAX_MEMORY));
        for bad in [
            "",
            "M",
            "1.5G",
            "-1M",
            "10",
            "512K",
            "1025G",
            "99999999999999999G",
        ] {
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
        let count = usize_in(1, 100);
        assert!(count("0").is_err());
        assert!(count("-3").is_err());
        assert_eq!(count("7"), Ok(7));
        assert_eq!(count("100"), Ok(100));
    }

    #[test]
    fn counts_have_an_upper_bound_named_in_the_error() {
        let p = usize_in(1, 1 << 20);
        for big in ["1048577", "18446744073709551615", "99999999999999999999999"] {
            let e = p(big).unwrap_err();
            assert!(e.contains("limit of 1048576"), "{big}: {e}");
        }
        for bad in ["1e12", "1.5", "", "x", "-1"] {
            let e = p(bad).unwrap_err();
            assert!(e.contains("1 to 1048576"), "{bad}: {e}");
        }
        assert_eq!(u32_in(0, 10)("0"), Ok(0));
        assert_eq!(i64_in(0, 5)("5"), Ok(5));
        assert!(u64_in(2, 64)("1").unwrap_err().contains("minimum of 2"));
        let d = keyword_or_upto("auto", 1000, |s| Ok(s.to_string()));
        assert_eq!(d("auto"), Ok("auto".into()));
        assert_eq!(d("1000"), Ok("1000".into()));
        assert!(d("1001").unwrap_err().contains("limit of 1000"));
    }
}
