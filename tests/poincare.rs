//! Poincaré-ball ops: identities of the CPU twins, every backward pass against
//! f64 finite differences (at the origin, near the boundary, c ≠ 1, and for
//! ∂/∂c), every GPU kernel against its twin with poisoned outputs, no NaN/Inf
//! on 10⁶ random inputs spanning the ball, and Riemannian Adam.

mod common;

use common::{assert_grad, dot, fd, rand64, FD_H as H};

use common::{assert_close, gpu};
use crest::gpu::{Gpu, GpuBuf};
use crest::ops::optim::{AdamConfig, AdamStep, SUMSQ_STRIDE};
use crest::ops::poincare::*;
use crest::ops::radam::*;
use crest::rng::Rng;

const CURVS: [f64; 3] = [1.0, 0.37, 2.6];

/// Rows whose radius √c‖x‖ cycles through: 0 (origin), 1e-3, uniform in
/// [0, 0.99), and 0.99 (near the boundary).
fn ball(rng: &mut Rng, rows: usize, dim: usize, c: f64) -> Vec<f64> {
    let mut v = Vec::with_capacity(rows * dim);
    for r in 0..rows {
        let s = match r % 4 {
            0 => 0.0,
            1 => 1e-3,
            2 => rng.uniform() * 0.99,
            _ => 0.99,
        };
        push_point(rng, &mut v, dim, s / c.sqrt());
    }
    v
}

fn push_point(rng: &mut Rng, v: &mut Vec<f64>, dim: usize, radius: f64) {
    let dir: Vec<f64> = (0..dim).map(|_| rng.normal()).collect();
    let n = dir.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
    v.extend(dir.iter().map(|x| x / n * radius));
}

fn fd_c(c: f64, f: impl Fn(f64) -> f64) -> f64 {
    (f(c + H) - f(c - H)) / (2.0 * H)
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

// ------------------------------------------------------------ identities

#[test]
fn twins_satisfy_the_ball_identities() {
    let mut rng = Rng::new(11);
    for &c in &CURVS {
        let (rows, dim) = (9, 5);
        let shape = Rows::new(rows, dim);
        let (per_row, bcast) = (
            MobiusDims::per_row(rows, dim),
            MobiusDims::broadcast(rows, dim),
        );
        let x = ball(&mut rng, rows, dim, c);
        let y = ball(&mut rng, rows, dim, c);
        // exp₀(log₀(x)) = x
        let mut v = vec![0.0; rows * dim];
        let mut back = vec![0.0; rows * dim];
        radial_cpu(Radial::Log0, c, &x, shape, &mut v).unwrap();
        radial_cpu(Radial::Exp0, c, &v, shape, &mut back).unwrap();
        assert_grad("exp0(log0(x))", &back, &x, 1e-9);
        // x ⊕ 0 = x and (-x) ⊕ x = 0
        let zero = vec![0.0; dim];
        let mut out = vec![0.0; rows * dim];
        mobius_add_cpu(c, &x, &zero, bcast, &mut out).unwrap();
        assert_grad("x ⊕ 0", &out, &x, 1e-12);
        let neg: Vec<f64> = x.iter().map(|v| -v).collect();
        mobius_add_cpu(c, &neg, &x, per_row, &mut out).unwrap();
        assert_grad("-x ⊕ x", &out, &vec![0.0; rows * dim], 1e-9);
        // d(x, y) = 2/√c artanh(√c ‖(-x) ⊕ y‖), and d(x, x) = 0
        let mut d = vec![0.0; rows * rows];
        let pairs = PdistDims {
            m: rows,
            n: rows,
            dim,
            alpha: 1.0,
        };
        pdist_cpu(c, PointSets { x: &x, y: &y }, pairs, &mut d).unwrap();
        mobius_add_cpu(c, &neg, &y, per_row, &mut out).unwrap();
        for i in 0..rows {
            let n = dot(&out[i * dim..(i + 1) * dim], &out[i * dim..(i + 1) * dim]).sqrt();
            let want = 2.0 / c.sqrt() * (c.sqrt() * n).atanh();
            let got = d[i * rows + i];
            assert!(
                (got - want).abs() <= 1e-6 * (1.0 + want),
                "c={c} d(x,y) {got} vs Möbius form {want}"
            );
        }
        let mut dxx = vec![0.0; rows * rows];
        pdist_cpu(c, PointSets { x: &x, y: &x }, pairs, &mut dxx).unwrap();
        for i in 0..rows {
            assert_eq!(dxx[i * rows + i], 0.0);
        }
        // r ⊗ x = (r I) ⊗ x, and 1 ⊗ x = x
        let r = rand64(&mut rng, rows);
        let mut a = vec![0.0; rows * dim];
        let mut b = vec![0.0; rows * dim];
        mobius_scalar_cpu(c, &x, &r, per_row, &mut a).unwrap();
        let rx: Vec<f64> = (0..rows * dim).map(|i| r[i / dim] * x[i]).collect();
        let square = MatvecDims {
            rows,
            din: dim,
            dout: dim,
        };
        matvec_scale_cpu(c, &x, &rx, square, &mut b).unwrap();
        assert_grad("r ⊗ x vs (rI) ⊗ x", &a, &b, 1e-9);
        mobius_scalar_cpu(c, &x, &[1.0], bcast, &mut a).unwrap();
        assert_grad("1 ⊗ x", &a, &x, 1e-6);
    }
}

#[test]
fn projection_keeps_points_inside_the_ball() {
    let mut rng = Rng::new(12);
    for &c in &CURVS {
        let (rows, dim) = (40, 6);
        let mut x = Vec::new();
        for r in 0..rows {
            push_point(&mut rng, &mut x, dim, (r as f64 / 10.0) / c.sqrt());
        }
        let mut out = vec![0.0; rows * dim];
        project_cpu(c, PROJ_EPS, &x, Rows::new(rows, dim), &mut out).unwrap();
        for r in 0..rows {
            let n = dot(&out[r * dim..(r + 1) * dim], &out[r * dim..(r + 1) * dim]).sqrt();
            assert!(n * c.sqrt() <= 1.0 - PROJ_EPS as f64 + 1e-12, "row {r}");
            if r < 9 {
                assert_grad(
                    "inside rows unchanged",
                    &out[r * dim..(r + 1) * dim],
                    &x[r * dim..(r + 1) * dim],
                    0.0,
                );
            }
        }
    }
}

// ------------------------------------------------------------ finite differences

#[test]
fn radial_maps_match_finite_differences() {
    let mut rng = Rng::new(21);
    for &c in &CURVS {
        for map in [Radial::Exp0, Radial::Log0] {
            let (rows, dim) = (8, 4);
            let shape = Rows::new(rows, dim);
            // exp₀ takes tangent vectors (any size); log₀ takes ball points.
            let x = match map {
                Radial::Exp0 => ball(&mut rng, rows, dim, c)
                    .iter()
                    .map(|v| v * 3.0)
                    .collect(),
                Radial::Log0 => ball(&mut rng, rows, dim, c),
            };
            let g = rand64(&mut rng, rows * dim);
            let loss = |x: &[f64], c: f64| {
                let mut o = vec![0.0; rows * dim];
                radial_cpu(map, c, x, shape, &mut o).unwrap();
                dot(&o, &g)
            };
            let mut dx = vec![0.0; rows * dim];
            let mut dc = vec![0.0; rows];
            let grads = RowGrads {
                dx: &mut dx[..],
                dc: &mut dc[..],
            };
            radial_bwd_cpu(map, c, &x, &g, shape, grads).unwrap();
            assert_grad(
                &format!("{map:?} dx c={c}"),
                &dx,
                &fd(&x, |x| loss(x, c)),
                1e-5,
            );
            let dcs: f64 = dc.iter().sum();
            assert_grad(
                &format!("{map:?} dc c={c}"),
                &[dcs],
                &[fd_c(c, |c| loss(&x, c))],
                1e-5,
            );
        }
    }
}

#[test]
fn projection_matches_finite_differences() {
    let mut rng = Rng::new(22);
    for &c in &CURVS {
        let (rows, dim) = (10, 3);
        let shape = Rows::new(rows, dim);
        let mut x = Vec::new();
        for r in 0..rows {
            // half inside, half outside the projection radius
            push_point(&mut rng, &mut x, dim, (0.2 + 0.2 * r as f64) / c.sqrt());
        }
        let g = rand64(&mut rng, rows * dim);
        let loss = |x: &[f64], c: f64| {
            let mut o = vec![0.0; rows * dim];
            project_cpu(c, PROJ_EPS, x, shape, &mut o).unwrap();
            dot(&o, &g)
        };
        let mut dx = vec![0.0; rows * dim];
        let mut dc = vec![0.0; rows];
        let grads = RowGrads {
            dx: &mut dx[..],
            dc: &mut dc[..],
        };
        project_bwd_cpu(c, PROJ_EPS, &x, &g, shape, grads).unwrap();
        assert_grad("project dx", &dx, &fd(&x, |x| loss(x, c)), 1e-5);
        assert_grad(
            "project dc",
            &[dc.iter().sum()],
            &[fd_c(c, |c| loss(&x, c))],
            1e-5,
        );
    }
}

#[test]
fn mobius_add_matches_finite_differences() {
    let mut rng = Rng::new(23);
    for &c in &CURVS {
        for y_rows in [1usize, 8] {
            let (rows, dim) = (8, 4);
            let shape = MobiusDims {
                rows,
                other_rows: y_rows,
                dim,
            };
            let x = ball(&mut rng, rows, dim, c);
            let y = ball(&mut rng, y_rows, dim, c);
            let g = rand64(&mut rng, rows * dim);
            let loss = |x: &[f64], y: &[f64], c: f64| {
                let mut o = vec![0.0; rows * dim];
                mobius_add_cpu(c, x, y, shape, &mut o).unwrap();
                dot(&o, &g)
            };
            let (mut dx, mut dy, mut dc) = (
                vec![0.0; rows * dim],
                vec![0.0; rows * dim],
                vec![0.0; rows],
            );
            let grads = AddGrads {
                dx: &mut dx[..],
                dy: &mut dy[..],
                dc: &mut dc[..],
            };
            mobius_add_bwd_cpu(c, &x, &y, &g, shape, grads).unwrap();
            // broadcast y: the gradient is the sum over rows
            let mut dyr = vec![0.0; y_rows * dim];
            for r in 0..rows {
                let yr = if y_rows == 1 { 0 } else { r };
                for d in 0..dim {
                    dyr[yr * dim + d] += dy[r * dim + d];
                }
            }
            assert_grad("⊕ dx", &dx, &fd(&x, |x| loss(x, &y, c)), 1e-5);
            assert_grad("⊕ dy", &dyr, &fd(&y, |y| loss(&x, y, c)), 1e-5);
            assert_grad(
                "⊕ dc",
                &[dc.iter().sum()],
                &[fd_c(c, |c| loss(&x, &y, c))],
                1e-5,
            );
        }
    }
}

#[test]
fn mobius_scalar_matches_finite_differences() {
    let mut rng = Rng::new(24);
    for &c in &CURVS {
        let (rows, dim) = (8, 4);
        let shape = MobiusDims::per_row(rows, dim);
        let x = ball(&mut rng, rows, dim, c);
        let r: Vec<f64> = rand64(&mut rng, rows).iter().map(|v| v * 2.0).collect();
        let g = rand64(&mut rng, rows * dim);
        let loss = |x: &[f64], r: &[f64], c: f64| {
            let mut o = vec![0.0; rows * dim];
            mobius_scalar_cpu(c, x, r, shape, &mut o).unwrap();
            dot(&o, &g)
        };
        let (mut dx, mut dr, mut dc) = (vec![0.0; rows * dim], vec![0.0; rows], vec![0.0; rows]);
        let grads = ScalarGrads {
            dx: &mut dx[..],
            dr: &mut dr[..],
            dc: &mut dc[..],
        };
        mobius_scalar_bwd_cpu(c, &x, &r, &g, shape, grads).unwrap();
        assert_grad("⊗ dx", &dx, &fd(&x, |x| loss(x, &r, c)), 1e-5);
        assert_grad("⊗ dr", &dr, &fd(&r, |r| loss(&x, r, c)), 1e-5);
        assert_grad(
            "⊗ dc",
            &[dc.iter().sum()],
            &[fd_c(c, |c| loss(&x, &r, c))],
            1e-5,
        );
    }
}

#[test]
fn matvec_matches_finite_differences() {
    let mut rng = Rng::new(25);
    for &c in &CURVS {
        let (rows, din, dout) = (8, 5, 3);
        let shape = MatvecDims { rows, din, dout };
        let x = ball(&mut rng, rows, din, c);
        let mut mx: Vec<f64> = rand64(&mut rng, rows * dout);
        mx[..dout].iter_mut().for_each(|v| *v = 0.0); // M x = 0 on one row
        let g = rand64(&mut rng, rows * dout);
        let loss = |x: &[f64], mx: &[f64], c: f64| {
            let mut o = vec![0.0; rows * dout];
            matvec_scale_cpu(c, x, mx, shape, &mut o).unwrap();
            dot(&o, &g)
        };
        let (mut dx, mut dmx, mut dc) = (
            vec![0.0; rows * din],
            vec![0.0; rows * dout],
            vec![0.0; rows],
        );
        let grads = MatvecGrads {
            dx: &mut dx[..],
            dmx: &mut dmx[..],
            dc: &mut dc[..],
        };
        matvec_scale_bwd_cpu(c, &x, &mx, &g, shape, grads).unwrap();
        assert_grad("M⊗x dx", &dx, &fd(&x, |x| loss(x, &mx, c)), 1e-5);
        assert_grad("M⊗x dmx", &dmx, &fd(&mx, |m| loss(&x, m, c)), 1e-5);
        assert_grad(
            "M⊗x dc",
            &[dc.iter().sum()],
            &[fd_c(c, |c| loss(&x, &mx, c))],
            1e-5,
        );
    }
}

#[test]
fn pdist_matches_finite_differences() {
    let mut rng = Rng::new(26);
    for &c in &CURVS {
        let (m, n, dim) = (7, 5, 3);
        let dims = PdistDims {
            m,
            n,
            dim,
            alpha: -1.7,
        };
        let x = ball(&mut rng, m, dim, c);
        let y = ball(&mut rng, n, dim, c);
        let g = rand64(&mut rng, m * n);
        let loss = |x: &[f64], y: &[f64], c: f64| {
            let mut o = vec![0.0; m * n];
            pdist_cpu(c, PointSets { x, y }, dims, &mut o).unwrap();
            dot(&o, &g)
        };
        let (mut dx, mut dy, mut dc) = (vec![0.0; m * dim], vec![0.0; n * dim], vec![0.0; m]);
        let grads = PdistGrads {
            dx: &mut dx[..],
            dy: &mut dy[..],
            dc: &mut dc[..],
        };
        pdist_bwd_cpu(c, PointSets { x: &x, y: &y }, &g, dims, grads).unwrap();
        assert_grad("pdist dx", &dx, &fd(&x, |x| loss(x, &y, c)), 1e-5);
        assert_grad("pdist dy", &dy, &fd(&y, |y| loss(&x, y, c)), 1e-5);
        assert_grad(
            "pdist dc",
            &[dc.iter().sum()],
            &[fd_c(c, |c| loss(&x, &y, c))],
            1e-5,
        );
    }
}

#[test]
fn mlr_matches_finite_differences() {
    let mut rng = Rng::new(27);
    for &c in &CURVS {
        let (m, k, dim) = (8, 3, 4);
        let dims = MlrDims { m, classes: k, dim };
        let x = ball(&mut rng, m, dim, c);
        let a = rand64(&mut rng, k * dim);
        let r = rand64(&mut rng, k);
        let g = rand64(&mut rng, m * k);
        let loss = |x: &[f64], a: &[f64], r: &[f64], c: f64| {
            let mut o = vec![0.0; m * k];
            mlr_cpu(c, x, MlrClasses { a, r }, dims, &mut o).unwrap();
            dot(&o, &g)
        };
        let gr = mlr_bwd_cpu(c, &x, MlrClasses { a: &a, r: &r }, &g, dims).unwrap();
        assert_grad("mlr dx", &gr.dx, &fd(&x, |x| loss(x, &a, &r, c)), 1e-5);
        assert_grad("mlr da", &gr.da, &fd(&a, |a| loss(&x, a, &r, c)), 1e-5);
        assert_grad("mlr dr", &gr.dr, &fd(&r, |r| loss(&x, &a, r, c)), 1e-5);
        assert_grad(
            "mlr dc",
            &[gr.dc.iter().sum()],
            &[fd_c(c, |c| loss(&x, &a, &r, c))],
            1e-5,
        );
    }
}

// ------------------------------------------------------------ GPU vs twin

struct Dev<'a> {
    g: &'a Gpu,
}

impl Dev<'_> {
    fn up(&self, v: &[f32]) -> GpuBuf {
        self.g.upload("in", v).unwrap()
    }
    fn out(&self, n: usize) -> GpuBuf {
        self.g.poisoned("out", n).unwrap()
    }
    fn rd(&self, b: &GpuBuf) -> Vec<f32> {
        self.g.read(b).unwrap()
    }
}

const RT: f32 = 2e-3;
const AT: f32 = 2e-4;

#[test]
fn row_ops_match_twins_on_awkward_sizes() {
    let Some(g) = gpu() else { return };
    let dev = Dev { g: &g };
    let mut rng = Rng::new(31);
    for &c in &CURVS {
        let cb = dev.up(&[c as f32]);
        let c32 = c as f32;
        for &rows in &[1usize, 3, 17, 65, 130] {
            for &dim in &[1usize, 3, 17] {
                let x = f32s(&ball(&mut rng, rows, dim, c));
                let y = f32s(&ball(&mut rng, rows, dim, c));
                let gr = f32s(&rand64(&mut rng, rows * dim));
                let (xb, yb, gb) = (dev.up(&x), dev.up(&y), dev.up(&gr));
                let n = rows * dim;
                let shape = Rows::new(rows, dim);
                let tag = format!("c={c} rows={rows} dim={dim}");
                for map in [Radial::Exp0, Radial::Log0] {
                    let mut want = vec![0.0f32; n];
                    radial_cpu(map, c32, &x, shape, &mut want).unwrap();
                    let o = dev.out(n);
                    radial_gpu(&g, map, &cb, &xb, shape, &o).unwrap();
                    assert_close(&format!("{map:?} {tag}"), &dev.rd(&o), &want, RT, AT);
                    let (mut dx, mut dc) = (vec![0.0f32; n], vec![0.0f32; rows]);
                    let grads = RowGrads {
                        dx: &mut dx[..],
                        dc: &mut dc[..],
                    };
                    radial_bwd_cpu(map, c32, &x, &gr, shape, grads).unwrap();
                    let (odx, odc) = (dev.out(n), dev.out(rows));
                    let ograds = RowGrads { dx: &odx, dc: &odc };
                    radial_bwd_gpu(&g, map, &cb, &xb, &gb, shape, ograds).unwrap();
                    assert_close(&format!("{map:?} bwd dx {tag}"), &dev.rd(&odx), &dx, RT, AT);
                    assert_close(&format!("{map:?} bwd dc {tag}"), &dev.rd(&odc), &dc, RT, AT);
                }
                // projection on points scaled past the boundary
                let far: Vec<f32> = x.iter().map(|v| v * 1.3).collect();
                let fb = dev.up(&far);
                let mut want = vec![0.0f32; n];
                project_cpu(c32, PROJ_EPS, &far, shape, &mut want).unwrap();
                let o = dev.out(n);
                project_gpu(&g, &cb, PROJ_EPS, &fb, shape, &o).unwrap();
                assert_close(&format!("project {tag}"), &dev.rd(&o), &want, RT, AT);
                let (mut dx, mut dc) = (vec![0.0f32; n], vec![0.0f32; rows]);
                let grads = RowGrads {
                    dx: &mut dx[..],
                    dc: &mut dc[..],
                };
                project_bwd_cpu(c32, PROJ_EPS, &far, &gr, shape, grads).unwrap();
                let (odx, odc) = (dev.out(n), dev.out(rows));
                let ograds = RowGrads { dx: &odx, dc: &odc };
                project_bwd_gpu(&g, &cb, PROJ_EPS, &fb, &gb, shape, ograds).unwrap();
                assert_close(&format!("project bwd dx {tag}"), &dev.rd(&odx), &dx, RT, AT);
                assert_close(&format!("project bwd dc {tag}"), &dev.rd(&odc), &dc, RT, AT);
                // Möbius addition, per-row and broadcast y
                for y_rows in [rows, 1] {
                    let ms = MobiusDims {
                        rows,
                        other_rows: y_rows,
                        dim,
                    };
                    let mut want = vec![0.0f32; n];
                    mobius_add_cpu(c32, &x, &y, ms, &mut want).unwrap();
                    let o = dev.out(n);
                    mobius_add_gpu(&g, &cb, &xb, &yb, ms, &o).unwrap();
                    assert_close(
                        &format!("⊕ {tag} y_rows={y_rows}"),
                        &dev.rd(&o),
                        &want,
                        RT,
                        AT,
                    );
                    let (mut dx, mut dy, mut dc) =
                        (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; rows]);
                    let grads = AddGrads {
                        dx: &mut dx[..],
                        dy: &mut dy[..],
                        dc: &mut dc[..],
                    };
                    mobius_add_bwd_cpu(c32, &x, &y, &gr, ms, grads).unwrap();
                    let (odx, ody, odc) = (dev.out(n), dev.out(n), dev.out(rows));
                    let ograds = AddGrads {
                        dx: &odx,
                        dy: &ody,
                        dc: &odc,
                    };
                    mobius_add_bwd_gpu(&g, &cb, &xb, &yb, &gb, ms, ograds).unwrap();
                    assert_close(&format!("⊕ bwd dx {tag}"), &dev.rd(&odx), &dx, RT, AT);
                    assert_close(&format!("⊕ bwd dy {tag}"), &dev.rd(&ody), &dy, RT, AT);
                    assert_close(&format!("⊕ bwd dc {tag}"), &dev.rd(&odc), &dc, RT, AT);
                }
                // Möbius scalar product
                let r = f32s(&rand64(&mut rng, rows));
                let rb = dev.up(&r);
                let ms = MobiusDims::per_row(rows, dim);
                let mut want = vec![0.0f32; n];
                mobius_scalar_cpu(c32, &x, &r, ms, &mut want).unwrap();
                let o = dev.out(n);
                mobius_scalar_gpu(&g, &cb, &xb, &rb, ms, &o).unwrap();
                assert_close(&format!("⊗ {tag}"), &dev.rd(&o), &want, RT, AT);
                let (mut dx, mut dr, mut dc) =
                    (vec![0.0f32; n], vec![0.0f32; rows], vec![0.0f32; rows]);
                let grads = ScalarGrads {
                    dx: &mut dx[..],
                    dr: &mut dr[..],
                    dc: &mut dc[..],
                };
                mobius_scalar_bwd_cpu(c32, &x, &r, &gr, ms, grads).unwrap();
                let (odx, odr, odc) = (dev.out(n), dev.out(rows), dev.out(rows));
                let ograds = ScalarGrads {
                    dx: &odx,
                    dr: &odr,
                    dc: &odc,
                };
                mobius_scalar_bwd_gpu(&g, &cb, &xb, &rb, &gb, ms, ograds).unwrap();
                assert_close(&format!("⊗ bwd dx {tag}"), &dev.rd(&odx), &dx, RT, AT);
                assert_close(&format!("⊗ bwd dr {tag}"), &dev.rd(&odr), &dr, RT, AT);
                assert_close(&format!("⊗ bwd dc {tag}"), &dev.rd(&odc), &dc, RT, AT);
            }
        }
    }
}

#[test]
fn matvec_pdist_mlr_match_twins_on_awkward_sizes() {
    let Some(g) = gpu() else { return };
    let dev = Dev { g: &g };
    let mut rng = Rng::new(32);
    for &c in &CURVS {
        let cb = dev.up(&[c as f32]);
        let c32 = c as f32;
        for &(m, n, dim) in &[
            (1usize, 1usize, 1usize),
            (3, 17, 5),
            (65, 63, 17),
            (130, 3, 2),
        ] {
            let tag = format!("c={c} m={m} n={n} dim={dim}");
            let x = f32s(&ball(&mut rng, m, dim, c));
            let y = f32s(&ball(&mut rng, n, dim, c));
            let (xb, yb) = (dev.up(&x), dev.up(&y));
            // matvec rescale: x is m × dim, mx is m × n
            let mx = f32s(&rand64(&mut rng, m * n));
            let gm = f32s(&rand64(&mut rng, m * n));
            let (mxb, gmb) = (dev.up(&mx), dev.up(&gm));
            let mv = MatvecDims {
                rows: m,
                din: dim,
                dout: n,
            };
            let mut want = vec![0.0f32; m * n];
            matvec_scale_cpu(c32, &x, &mx, mv, &mut want).unwrap();
            let o = dev.out(m * n);
            matvec_scale_gpu(&g, &cb, &xb, &mxb, mv, &o).unwrap();
            assert_close(&format!("M⊗x {tag}"), &dev.rd(&o), &want, RT, AT);
            let (mut dx, mut dmx, mut dc) =
                (vec![0.0f32; m * dim], vec![0.0f32; m * n], vec![0.0f32; m]);
            let grads = MatvecGrads {
                dx: &mut dx[..],
                dmx: &mut dmx[..],
                dc: &mut dc[..],
            };
            matvec_scale_bwd_cpu(c32, &x, &mx, &gm, mv, grads).unwrap();
            let (odx, odm, odc) = (dev.out(m * dim), dev.out(m * n), dev.out(m));
            let ograds = MatvecGrads {
                dx: &odx,
                dmx: &odm,
                dc: &odc,
            };
            matvec_scale_bwd_gpu(&g, &cb, &xb, &mxb, &gmb, mv, ograds).unwrap();
            assert_close(&format!("M⊗x bwd dx {tag}"), &dev.rd(&odx), &dx, RT, AT);
            assert_close(&format!("M⊗x bwd dmx {tag}"), &dev.rd(&odm), &dmx, RT, AT);
            assert_close(&format!("M⊗x bwd dc {tag}"), &dev.rd(&odc), &dc, RT, AT);
            // pairwise distances
            let pd = PdistDims {
                m,
                n,
                dim,
                alpha: -0.7,
            };
            let (pts, bpts) = (
                PointSets {
                    x: &x[..],
                    y: &y[..],
                },
                PointSets { x: &xb, y: &yb },
            );
            let mut want = vec![0.0f32; m * n];
            pdist_cpu(c32, pts, pd, &mut want).unwrap();
            let (o, aux) = (dev.out(m * n), dev.out(pdist_aux_len(m, n)));
            pdist_gpu(&g, &cb, bpts, pd, &o, Some(&aux)).unwrap();
            assert_close(&format!("pdist {tag}"), &dev.rd(&o), &want, RT, 1e-3);
            // retrieval mode (no side tensor) gives the same distances
            let o2 = dev.out(m * n);
            pdist_gpu(&g, &cb, bpts, pd, &o2, None).unwrap();
            assert_close(
                &format!("pdist (no aux) {tag}"),
                &dev.rd(&o2),
                &want,
                RT,
                1e-3,
            );
            let (mut dx, mut dy, mut dc) = (
                vec![0.0f32; m * dim],
                vec![0.0f32; n * dim],
                vec![0.0f32; m],
            );
            let grads = PdistGrads {
                dx: &mut dx[..],
                dy: &mut dy[..],
                dc: &mut dc[..],
            };
            pdist_bwd_cpu(c32, pts, &gm, pd, grads).unwrap();
            let (odx, ody, odc) = (dev.out(m * dim), dev.out(n * dim), dev.out(m));
            let ograds = PdistGrads {
                dx: &odx,
                dy: &ody,
                dc: &odc,
            };
            pdist_bwd_gpu(&g, &cb, bpts, &gmb, &aux, pd, ograds).unwrap();
            // near-boundary pairs have conformal factors ~50: relative tolerance
            assert_close(
                &format!("pdist bwd dx {tag}"),
                &dev.rd(&odx),
                &dx,
                5e-3,
                1e-2,
            );
            assert_close(
                &format!("pdist bwd dy {tag}"),
                &dev.rd(&ody),
                &dy,
                5e-3,
                1e-2,
            );
            assert_close(
                &format!("pdist bwd dc {tag}"),
                &dev.rd(&odc),
                &dc,
                5e-3,
                1e-2,
            );
            // MLR: n classes
            let a = f32s(&rand64(&mut rng, n * dim));
            let r = f32s(&rand64(&mut rng, n));
            let (ab, rb) = (dev.up(&a), dev.up(&r));
            let md = MlrDims { m, classes: n, dim };
            let (cls, bcls) = (
                MlrClasses {
                    a: &a[..],
                    r: &r[..],
                },
                MlrClasses { a: &ab, r: &rb },
            );
            let mut want = vec![0.0f32; m * n];
            mlr_cpu(c32, &x, cls, md, &mut want).unwrap();
            let o = dev.out(m * n);
            mlr_gpu(&g, &cb, &xb, bcls, md, &o).unwrap();
            assert_close(&format!("mlr {tag}"), &dev.rd(&o), &want, RT, 1e-3);
            let gr = mlr_bwd_cpu(c32, &x, cls, &gm, md).unwrap();
            let (odx, oda, odr, odc) = (dev.out(m * dim), dev.out(n * dim), dev.out(n), dev.out(m));
            let ograds = MlrGrads {
                dx: &odx,
                da: &oda,
                dr: &odr,
                dc: &odc,
            };
            mlr_bwd_gpu(&g, &cb, &xb, bcls, &gmb, md, ograds).unwrap();
            assert_close(
                &format!("mlr bwd dx {tag}"),
                &dev.rd(&odx),
                &gr.dx,
                5e-3,
                1e-2,
            );
            assert_close(
                &format!("mlr bwd da {tag}"),
                &dev.rd(&oda),
                &gr.da,
                5e-3,
                1e-2,
            );
            assert_close(
                &format!("mlr bwd dr {tag}"),
                &dev.rd(&odr),
                &gr.dr,
                5e-3,
                1e-2,
            );
            assert_close(
                &format!("mlr bwd dc {tag}"),
                &dev.rd(&odc),
                &gr.dc,
                5e-3,
                1e-2,
            );
        }
    }
}

// ------------------------------------------------------------ 10⁶ random inputs

#[track_caller]
fn all_finite(what: &str, v: &[f32]) {
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        panic!("{what}[{i}] = {}", v[i]);
    }
}

/// 10⁶ points spanning the ball: radius √c‖x‖ uniform in [0, 0.999], with
/// exact zeros; c from 0.05 to 7; every op forward and backward on the GPU.
#[test]
fn million_random_inputs_give_no_nan_or_inf() {
    let Some(g) = gpu() else { return };
    let dev = Dev { g: &g };
    let mut rng = Rng::new(41);
    let (rows, dim) = (1_000_000usize, 3usize);
    for &c in &[0.05f64, 1.0, 7.0] {
        let mut x = Vec::with_capacity(rows * dim);
        let mut y = Vec::with_capacity(rows * dim);
        for r in 0..rows {
            let s = if r % 1000 == 0 {
                0.0
            } else {
                rng.uniform() * 0.999
            };
            push_point(&mut rng, &mut x, dim, s / c.sqrt());
            let sy = rng.uniform() * 0.999;
            push_point(&mut rng, &mut y, dim, sy / c.sqrt());
        }
        let (x, y) = (f32s(&x), f32s(&y));
        let gr = f32s(&rand64(&mut rng, rows * dim));
        let r = f32s(
            &rand64(&mut rng, rows)
                .iter()
                .map(|v| v * 4.0)
                .collect::<Vec<_>>(),
        );
        let cb = dev.up(&[c as f32]);
        let (xb, yb, gb, rb) = (dev.up(&x), dev.up(&y), dev.up(&gr), dev.up(&r));
        let n = rows * dim;
        let (o1, o2, o3) = (dev.out(n), dev.out(n), dev.out(rows));
        let tag = format!("c={c}");
        let shape = Rows::new(rows, dim);
        let row_grads = || RowGrads { dx: &o1, dc: &o3 };
        for map in [Radial::Exp0, Radial::Log0] {
            radial_gpu(&g, map, &cb, &xb, shape, &o1).unwrap();
            all_finite(&format!("{map:?} {tag}"), &dev.rd(&o1));
            radial_bwd_gpu(&g, map, &cb, &xb, &gb, shape, row_grads()).unwrap();
            all_finite(&format!("{map:?} bwd {tag}"), &dev.rd(&o1));
            all_finite(&format!("{map:?} bwd dc {tag}"), &dev.rd(&o3));
        }
        project_gpu(&g, &cb, PROJ_EPS, &xb, shape, &o1).unwrap();
        all_finite("project", &dev.rd(&o1));
        project_bwd_gpu(&g, &cb, PROJ_EPS, &xb, &gb, shape, row_grads()).unwrap();
        all_finite("project bwd", &dev.rd(&o1));
        let ms = MobiusDims::per_row(rows, dim);
        mobius_add_gpu(&g, &cb, &xb, &yb, ms, &o1).unwrap();
        all_finite(&format!("⊕ {tag}"), &dev.rd(&o1));
        let grads = AddGrads {
            dx: &o1,
            dy: &o2,
            dc: &o3,
        };
        mobius_add_bwd_gpu(&g, &cb, &xb, &yb, &gb, ms, grads).unwrap();
        all_finite(&format!("⊕ bwd dx {tag}"), &dev.rd(&o1));
        all_finite(&format!("⊕ bwd dy {tag}"), &dev.rd(&o2));
        all_finite(&format!("⊕ bwd dc {tag}"), &dev.rd(&o3));
        mobius_scalar_gpu(&g, &cb, &xb, &rb, ms, &o1).unwrap();
        all_finite(&format!("⊗ {tag}"), &dev.rd(&o1));
        let o4 = dev.out(rows);
        let grads = ScalarGrads {
            dx: &o1,
            dr: &o4,
            dc: &o3,
        };
        mobius_scalar_bwd_gpu(&g, &cb, &xb, &rb, &gb, ms, grads).unwrap();
        all_finite(&format!("⊗ bwd {tag}"), &dev.rd(&o1));
        all_finite(&format!("⊗ bwd dr {tag}"), &dev.rd(&o4));
        all_finite(&format!("⊗ bwd dc {tag}"), &dev.rd(&o3));
        // M x with M x = 3·y (any vector)
        let mv = MatvecDims {
            rows,
            din: dim,
            dout: dim,
        };
        matvec_scale_gpu(&g, &cb, &xb, &yb, mv, &o1).unwrap();
        all_finite(&format!("M⊗x {tag}"), &dev.rd(&o1));
        let grads = MatvecGrads {
            dx: &o1,
            dmx: &o2,
            dc: &o3,
        };
        matvec_scale_bwd_gpu(&g, &cb, &xb, &yb, &gb, mv, grads).unwrap();
        all_finite(&format!("M⊗x bwd dx {tag}"), &dev.rd(&o1));
        all_finite(&format!("M⊗x bwd dmx {tag}"), &dev.rd(&o2));
        all_finite(&format!("M⊗x bwd dc {tag}"), &dev.rd(&o3));
        // 1000 × 1000 distance pairs (10⁶), gradients included
        let (m, k) = (1000usize, 1000usize);
        let (xs, ys) = (dev.up(&x[..m * dim]), dev.up(&y[..k * dim]));
        let (d, aux, gd) = (
            dev.out(m * k),
            dev.out(pdist_aux_len(m, k)),
            dev.up(&gr[..m * k]),
        );
        let (pts, pd) = (
            PointSets { x: &xs, y: &ys },
            PdistDims {
                m,
                n: k,
                dim,
                alpha: 1.0,
            },
        );
        pdist_gpu(&g, &cb, pts, pd, &d, Some(&aux)).unwrap();
        all_finite(&format!("pdist {tag}"), &dev.rd(&d));
        let (dx, dy, dc) = (dev.out(m * dim), dev.out(k * dim), dev.out(m));
        let grads = PdistGrads {
            dx: &dx,
            dy: &dy,
            dc: &dc,
        };
        pdist_bwd_gpu(&g, &cb, pts, &gd, &aux, pd, grads).unwrap();
        all_finite(&format!("pdist bwd dx {tag}"), &dev.rd(&dx));
        all_finite(&format!("pdist bwd dy {tag}"), &dev.rd(&dy));
        all_finite(&format!("pdist bwd dc {tag}"), &dev.rd(&dc));
        // MLR: 10⁵ points × 10 classes
        let (mm, kc) = (100_000usize, 10usize);
        let a = f32s(
            &rand64(&mut rng, kc * dim)
                .iter()
                .map(|v| v * 3.0)
                .collect::<Vec<_>>(),
        );
        let ar = f32s(
            &rand64(&mut rng, kc)
                .iter()
                .map(|v| v * 3.0)
                .collect::<Vec<_>>(),
        );
        let (ab, arb, xm) = (dev.up(&a), dev.up(&ar), dev.up(&x[..mm * dim]));
        let (lg, gl) = (dev.out(mm * kc), dev.up(&gr[..mm * kc]));
        let (cls, md) = (
            MlrClasses { a: &ab, r: &arb },
            MlrDims {
                m: mm,
                classes: kc,
                dim,
            },
        );
        mlr_gpu(&g, &cb, &xm, cls, md, &lg).unwrap();
        all_finite(&format!("mlr {tag}"), &dev.rd(&lg));
        let (dx, da, dr, dc) = (
            dev.out(mm * dim),
            dev.out(kc * dim),
            dev.out(kc),
            dev.out(mm),
        );
        let grads = MlrGrads {
            dx: &dx,
            da: &da,
            dr: &dr,
            dc: &dc,
        };
        mlr_bwd_gpu(&g, &cb, &xm, cls, &gl, md, grads).unwrap();
        for (w, b) in [("dx", &dx), ("da", &da), ("dr", &dr), ("dc", &dc)] {
            all_finite(&format!("mlr bwd {w} {tag}"), &dev.rd(b));
        }
    }
}

// ------------------------------------------------------------ Riemannian Adam

fn adam() -> AdamConfig {
    AdamConfig {
        lr: 0.05,
        max_norm: 0.0,
        ..AdamConfig::default()
    }
}

#[test]
fn radam_matches_twin_and_stays_in_the_ball() {
    let Some(g) = gpu() else { return };
    let dev = Dev { g: &g };
    let mut rng = Rng::new(51);
    for &c in &CURVS {
        let (rows, dim) = (17usize, 5usize);
        let mut p = f32s(&ball(&mut rng, rows, dim, c));
        let (mut m1, mut m2) = (vec![0.0f32; rows * dim], vec![0.0f32; rows * dim]);
        let (pb, mb, vb) = (dev.up(&p), dev.up(&m1), dev.up(&m2));
        let cb = dev.up(&[c as f32]);
        let sumsq = g.zeros("sumsq", SUMSQ_STRIDE).unwrap();
        let cfg = adam();
        for step in 1..=5u64 {
            let grad = f32s(&rand64(&mut rng, rows * dim));
            let st = AdamStep {
                lr: cfg.lr,
                t: step,
            };
            let step = RadamStep::new(&cfg, &st, Rows::new(rows, dim));
            let state = RadamState {
                param: &mut p[..],
                m1: &mut m1[..],
                m2: &mut m2[..],
            };
            radam_cpu(&step, 1.0, c as f32, &grad, state).unwrap();
            let gb = dev.up(&grad);
            let bstate = RadamState {
                param: &pb,
                m1: &mb,
                m2: &vb,
            };
            radam_gpu(&g, &step, &sumsq, 1, &cb, &gb, bstate).unwrap();
        }
        assert_close(&format!("radam param c={c}"), &dev.rd(&pb), &p, 1e-3, 1e-4);
        assert_close(&format!("radam m c={c}"), &dev.rd(&mb), &m1, 1e-3, 1e-5);
        assert_close(&format!("radam v c={c}"), &dev.rd(&vb), &m2, 1e-3, 1e-7);
        for r in 0..rows {
            let n: f32 = p[r * dim..(r + 1) * dim]
                .iter()
                .map(|v| v * v)
                .sum::<f32>()
                .sqrt();
            assert!(
                n * (c as f32).sqrt() <= 1.0 - PROJ_EPS + 1e-5,
                "row {r} left the ball"
            );
        }
    }
}

/// Riemannian Adam drives points to targets by the gradient of Σ d(x_i, t_i),
/// including targets near the boundary where Euclidean steps overshoot.
#[test]
fn radam_minimises_hyperbolic_distance() {
    let mut rng = Rng::new(52);
    let c = 1.0f64;
    let (rows, dim) = (12usize, 3usize);
    let pairs = PdistDims {
        m: rows,
        n: rows,
        dim,
        alpha: 1.0,
    };
    let target = ball(&mut rng, rows, dim, c);
    let mut p = f32s(&ball(&mut rng, rows, dim, c));
    let (mut m1, mut m2) = (vec![0.0f32; rows * dim], vec![0.0f32; rows * dim]);
    let dist = |p: &[f32]| -> Vec<f64> {
        let p64: Vec<f64> = p.iter().map(|&v| v as f64).collect();
        let mut d = vec![0.0; rows * rows];
        pdist_cpu(
            c,
            PointSets {
                x: &p64,
                y: &target,
            },
            pairs,
            &mut d,
        )
        .unwrap();
        (0..rows).map(|i| d[i * rows + i]).collect()
    };
    let start: f64 = dist(&p).iter().sum();
    let cfg = AdamConfig { lr: 0.02, ..adam() };
    for step in 1..=400u64 {
        let p64: Vec<f64> = p.iter().map(|&v| v as f64).collect();
        let mut gd = vec![0.0; rows * rows];
        for i in 0..rows {
            gd[i * rows + i] = 1.0;
        }
        let (mut dx, mut dy, mut dc) = (
            vec![0.0; rows * dim],
            vec![0.0; rows * dim],
            vec![0.0; rows],
        );
        let grads = PdistGrads {
            dx: &mut dx[..],
            dy: &mut dy[..],
            dc: &mut dc[..],
        };
        let pts = PointSets {
            x: &p64[..],
            y: &target[..],
        };
        pdist_bwd_cpu(c, pts, &gd, pairs, grads).unwrap();
        let st = AdamStep {
            lr: cfg.lr,
            t: step,
        };
        let state = RadamState {
            param: &mut p[..],
            m1: &mut m1[..],
            m2: &mut m2[..],
        };
        let rstep = RadamStep::new(&cfg, &st, Rows::new(rows, dim));
        radam_cpu(&rstep, 1.0, c as f32, &f32s(&dx), state).unwrap();
    }
    let end: f64 = dist(&p).iter().sum();
    assert!(end < 0.05 * start, "Σ d went from {start} to {end}");
}
