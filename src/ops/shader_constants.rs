//! The constants WGSL kernels and their Rust launchers and twins both need,
//! checked equal: naga parses each shader as it is compiled (variants
//! included) and folds its `const` declarations, and every mirrored value
//! is compared with the Rust constant it stands for. A change on one side
//! only fails `cargo test` here, naming the shader and the constant.

use std::collections::HashMap;

/// A shader's named module-scope constants, folded to numbers.
pub(crate) fn constants(src: &str) -> Result<HashMap<String, f64>, String> {
    let module = naga::front::wgsl::parse_str(src).map_err(|e| e.emit_to_string(src))?;
    let mut out = HashMap::new();
    for (_, c) in module.constants.iter() {
        let Some(name) = &c.name else { continue };
        let v = match module.global_expressions[c.init] {
            naga::Expression::Literal(l) => match l {
                naga::Literal::F32(x) => x as f64,
                naga::Literal::F64(x) => x,
                naga::Literal::U32(x) => x as f64,
                naga::Literal::I32(x) => x as f64,
                naga::Literal::U64(x) => x as f64,
                naga::Literal::I64(x) => x as f64,
                naga::Literal::AbstractInt(x) => x as f64,
                naga::Literal::AbstractFloat(x) => x,
                _ => continue,
            },
            _ => continue,
        };
        out.insert(name.clone(), v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::constants;
    use crate::ops::{
        align, bithead, index, infer, kmer, list_scan, poincare, pq, radam, reduce, triplet,
        window_scan,
    };

    /// (shader as compiled, constant, the Rust value it mirrors).
    fn mirrored() -> Vec<(&'static str, String, &'static str, f64)> {
        let ws_f32 = window_scan::kernel(32, window_scan::RowCode::F32).source;
        let ws_pq = window_scan::kernel(32, window_scan::RowCode::Pq(16)).source;
        let mut v: Vec<(&'static str, String, &'static str, f64)> = vec![
            ("align", align::SOURCE.into(), "GAP", align::GAP as f64),
            (
                "align",
                align::SOURCE.into(),
                "MAX_BAND",
                (2 * align::MAX_PAD + 1) as f64,
            ),
            ("index", index::SOURCE.into(), "NONE", index::NONE as f64),
            ("index", index::SOURCE.into(), "EMPTY", index::EMPTY as f64),
            ("index", index::SOURCE.into(), "MAX_M", index::MAX_M as f64),
            (
                "index",
                index::SOURCE.into(),
                "MAX_DIM4",
                (index::MAX_DIM / 4) as f64,
            ),
            (
                "index",
                index::SOURCE.into(),
                "QU",
                index::QUERY_VEC4S as f64,
            ),
            (
                "index",
                index::SOURCE.into(),
                // beam children, or a leaf scan's 64 threads × M candidates + M
                "MAX_CHILDREN",
                index::MAX_CHILDREN.max(64 * index::MAX_M + index::MAX_M) as f64,
            ),
            (
                "bithead",
                bithead::SOURCE.into(),
                "MAX_FLIP",
                bithead::MAX_FLIP as f64,
            ),
            ("pq", pq::SOURCE.into(), "K", pq::K as f64),
            ("pq", pq::SOURCE.into(), "MAX_SUB4", pq::MAX_SUB4 as f64),
            (
                "radam",
                radam::source().into(),
                "MAXD",
                radam::MAX_DIM as f64,
            ),
            (
                "radam",
                radam::source().into(),
                "C_LO",
                radam::CURVATURE_RANGE.0 as f64,
            ),
            (
                "radam",
                radam::source().into(),
                "C_HI",
                radam::CURVATURE_RANGE.1 as f64,
            ),
            ("triplet", triplet::SOURCE.into(), "EPS", triplet::EPS),
            (
                "kmer",
                kmer::SOURCE.into(),
                "MAX_BINS",
                4usize.pow(kmer::MAX_K as u32) as f64,
            ),
            (
                "infer8",
                infer::source(8).into(),
                "WU",
                infer::WEIGHT_VEC4S as f64,
            ),
            (
                "infer16",
                infer::source(16).into(),
                "WU",
                infer::WEIGHT_VEC4S as f64,
            ),
            (
                "reduce",
                reduce::source().into(),
                "NEG_BIG",
                reduce::NEG_BIG as f64,
            ),
        ];
        for (name, src) in [("window_scan", ws_f32), ("window_scan_pq16", ws_pq)] {
            v.extend([
                (name, src.to_string(), "NONE", index::NONE as f64),
                (name, src.to_string(), "EMPTY", index::EMPTY as f64),
                (name, src.to_string(), "WG", window_scan::WG as f64),
                (name, src.to_string(), "MAX_M", window_scan::MAX_M as f64),
                (
                    name,
                    src.to_string(),
                    "WIN_IDS",
                    (window_scan::MAX_WINDOW_ROWS / 4) as f64,
                ),
                (
                    name,
                    src.to_string(),
                    "MAX_MASK",
                    (window_scan::MAX_WINDOW_ROWS / 32) as f64,
                ),
                (
                    name,
                    src.to_string(),
                    "CB",
                    window_scan::CODEBOOK_HALF_VEC4S as f64,
                ),
            ]);
        }
        v.push((
            "window_scan",
            ws_f32.to_string(),
            "WIN",
            window_scan::WINDOW_VEC4S as f64,
        ));
        v.push(("window_scan", ws_f32.to_string(), "PQ_M", 0.0));
        let ls_pq = list_scan::kernel(32, window_scan::RowCode::Pq(16)).source;
        v.extend([
            ("list_scan", ls_pq.to_string(), "NONE", index::NONE as f64),
            ("list_scan", ls_pq.to_string(), "EMPTY", index::EMPTY as f64),
            ("list_scan", ls_pq.to_string(), "WG", list_scan::WG as f64),
            (
                "list_scan",
                ls_pq.to_string(),
                "MAX_M",
                window_scan::MAX_M as f64,
            ),
            ("list_scan", ls_pq.to_string(), "PQ_M", 16.0),
            ("list_scan", ls_pq.to_string(), "DIM4", 32.0),
        ]);
        v.push(("window_scan_pq16", ws_pq.to_string(), "PQ_M", 16.0));
        // the hyperbolic library, as prepended to the kernels that use it
        let hyp = poincare::source();
        for (c, want) in [
            ("SERIES", poincare::SERIES),
            ("S_MAX", poincare::S_MAX),
            ("C_MIN", poincare::C_MIN),
            ("CONF_MIN", poincare::CONF_MIN),
            ("TANH_MAX", poincare::TANH_MAX),
        ] {
            v.push(("poincare", hyp.to_string(), c, want));
        }
        v.push(("radam", radam::source().into(), "CONF_MIN", radam::CONF_MIN));
        v
    }

    #[test]
    fn shader_constants_equal_their_rust_mirrors() {
        let mut bad = Vec::new();
        for (shader, src, name, want) in mirrored() {
            let got = constants(&src).unwrap_or_else(|e| panic!("{shader}: {e}"));
            match got.get(name) {
                None => bad.push(format!("{shader}: no constant {name}")),
                // f32 constants compared at f32 precision
                Some(&g) if (g - want).abs() > 1e-6 * want.abs().max(1e-30) => {
                    bad.push(format!("{shader}: {name} = {g} in WGSL, {want} in Rust"))
                }
                Some(_) => {}
            }
        }
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    }

    #[test]
    fn constants_are_folded_and_a_changed_value_is_seen() {
        let c = constants("const A: u32 = 4u;\nconst B: u32 = A * 2u + 1u;\nconst F: f32 = 1e-3;")
            .unwrap();
        assert_eq!(c["A"], 4.0);
        assert_eq!(c["B"], 9.0);
        assert!((c["F"] - 1e-3).abs() < 1e-9);
        assert!(constants("const A: u32 = ;").is_err());
    }
}
