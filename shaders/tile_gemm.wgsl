// Tiled matrix-product body shared by gemm.wgsl and conv1d.wgsl.
//
// This file is not a shader on its own: it is appended to a family file that
// defines `params` (with fields m, n, k, k_per_split) and the functions
//   load_a(m, k) -> f32     element (m, k) of the left operand
//   load_b(k, n) -> f32     element (k, n) of the right operand
//   store_c(m, n, z, v)     write result element (m, n) of split z
// The workgroup computes a 64x64 tile of C; each of its 16x16 threads owns a
// 4x4 block (rows lid.y + 16i, columns lid.x + 16j, strided so that shared
// memory reads are conflict-free and global stores coalesce). The K range is
// walked 16 at a time through workgroup memory. workgroup_id.z selects a slice
// of K (split-K) of length params.k_per_split.

const TILE_M: u32 = 64u;
const TILE_N: u32 = 64u;
const TILE_K: u32 = 16u;

var<workgroup> tile_a: array<f32, 1024>; // [TILE_K][TILE_M]
var<workgroup> tile_b: array<f32, 1024>; // [TILE_K][TILE_N]

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

    var acc: array<f32, 16>;
    for (var i = 0u; i < 16u; i++) {
        acc[i] = 0.0;
    }

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
            tile_a[ka * TILE_M + ma] = va;
            // B tile: consecutive threads walk n (contiguous for row-major B).
            let nb = e % TILE_N;
            let kb = e / TILE_N;
            let gk2 = k0 + kb;
            let gn = n0 + nb;
            var vb = 0.0;
            if gn < params.n && gk2 < k_end {
                vb = load_b(gk2, gn);
            }
            tile_b[kb * TILE_N + nb] = vb;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TILE_K; kk++) {
            let a0 = tile_a[kk * TILE_M + lid.y];
            let a1 = tile_a[kk * TILE_M + lid.y + 16u];
            let a2 = tile_a[kk * TILE_M + lid.y + 32u];
            let a3 = tile_a[kk * TILE_M + lid.y + 48u];
            let b = vec4<f32>(
                tile_b[kk * TILE_N + lid.x],
                tile_b[kk * TILE_N + lid.x + 16u],
                tile_b[kk * TILE_N + lid.x + 32u],
                tile_b[kk * TILE_N + lid.x + 48u],
            );
            for (var j = 0u; j < 4u; j++) {
                acc[j] = fma(a0, b[j], acc[j]);
                acc[4u + j] = fma(a1, b[j], acc[4u + j]);
                acc[8u + j] = fma(a2, b[j], acc[8u + j]);
                acc[12u + j] = fma(a3, b[j], acc[12u + j]);
            }
        }
        workgroupBarrier();
        k0 += TILE_K;
    }

    for (var i = 0u; i < 4u; i++) {
        let gm = m0 + lid.y + 16u * i;
        for (var j = 0u; j < 4u; j++) {
            let gn = n0 + lid.x + 16u * j;
            if gm < params.m && gn < params.n {
                store_c(gm, gn, wid.z, acc[i * 4u + j]);
            }
        }
    }
}
