// Tiled matrix-product body shared by gemm.wgsl and conv1d.wgsl.
//
// This file is not a shader on its own: it is appended to a family file that
// defines `params` (with fields m, n, k, k_per_split) and the functions
//   load_a(m, k) -> f32     element (m, k) of the left operand
//   load_b(k, n) -> f32     element (k, n) of the right operand
//   store_c(m, n, z, v)     write result element (m, n) of split z
// The workgroup computes a 64x64 tile of C; each of its 16x16 threads owns a
// contiguous 4x4 block (rows 4 lid.y + i, columns 4 lid.x + j), so that each
// step of the inner loop is two vec4 loads from workgroup memory and four
// vec4 FMAs. The K range is walked 16 at a time through workgroup memory. workgroup_id.z selects a slice
// of K (split-K) of length params.k_per_split.

const TILE_M: u32 = 64u;
const TILE_N: u32 = 64u;
const TILE_K: u32 = 16u;

// [TILE_K][16] vec4s: element (k, i) holds rows (columns) 4i..4i+3 of slice k.
var<workgroup> tile_a: array<vec4<f32>, 256>;
var<workgroup> tile_b: array<vec4<f32>, 256>;

@compute @workgroup_size(16, 16, 1)
fn tile_main(
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(workgroup_id) wid: vec3<u32>,
) {
    let tid = lid.y * 16u + lid.x;
    let m0 = wid.y * TILE_M;
    let n0 = wid.x * TILE_N;
    let k_begin = wid.z * params.k_per_split;
    let k_end = min(params.k, k_begin + params.k_per_split);

    // acc_i holds row m0 + 4 lid.y + i, columns n0 + 4 lid.x + (0..3).
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);

    var k0 = k_begin;
    loop {
        if k0 >= k_end {
            break;
        }
        for (var i = 0u; i < 4u; i++) {
            let e = tid + i * 256u;
            // A tile: consecutive threads walk k (contiguous for row-major A).
            let ka = e % TILE_K;
            let ma = e / TILE_K;
            let gk = k0 + ka;
            let gm = m0 + ma;
            var va = 0.0;
            if gm < params.m && gk < k_end {
                va = load_a(gm, gk);
            }
            tile_a[ka * 16u + ma / 4u][ma % 4u] = va;
            // B tile: consecutive threads walk n (contiguous for row-major B).
            let nb = e % TILE_N;
            let kb = e / TILE_N;
            let gk2 = k0 + kb;
            let gn = n0 + nb;
            var vb = 0.0;
            if gn < params.n && gk2 < k_end {
                vb = load_b(gk2, gn);
            }
            tile_b[kb * 16u + nb / 4u][nb % 4u] = vb;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TILE_K; kk++) {
            let a = tile_a[kk * 16u + lid.y];
            let b = tile_b[kk * 16u + lid.x];
            acc0 = fma(vec4<f32>(a.x), b, acc0);
            acc1 = fma(vec4<f32>(a.y), b, acc1);
            acc2 = fma(vec4<f32>(a.z), b, acc2);
            acc3 = fma(vec4<f32>(a.w), b, acc3);
        }
        workgroupBarrier();
        k0 += TILE_K;
    }

    let gm = m0 + 4u * lid.y;
    let gn = n0 + 4u * lid.x;
    store_row(gm, gn, wid.z, acc0);
    store_row(gm + 1u, gn, wid.z, acc1);
    store_row(gm + 2u, gn, wid.z, acc2);
    store_row(gm + 3u, gn, wid.z, acc3);
}

fn store_row(gm: u32, gn0: u32, z: u32, v: vec4<f32>) {
    if gm >= params.m {
        return;
    }
    for (var j = 0u; j < 4u; j++) {
        let gn = gn0 + j;
        if gn < params.n {
            store_c(gm, gn, z, v[j]);
        }
    }
}
