// Verification: banded, damage-aware alignment of reads against reference
// windows, one invocation per (read, candidate, strand) task.
//
// Each task aligns the whole read (forward, or reverse-complemented for
// strand 1) against reference bases [ref_start, ref_start + read_len + 2·pad):
// read position i may pair with window position i + d for diagonals
// d ∈ [0, 2·pad], so the read may start anywhere in the first 2·pad + 1
// window bases (semi-global: the ends of the window are free) and indels move
// it between diagonals. Costs are integers in half-differences:
//   match 0; mismatch 2; N (read or reference) 2; a damage-like mismatch 1:
//   reference C / read T within `damage_len` bases of the molecule's 5' end,
//   or reference G / read A within `damage_len` bases of its 3' end (for a
//   reverse-strand task the molecule's 5' end is the aligned read's end and
//   the complementary substitutions apply: G/A at the 5' end, C/T at the 3');
//   each inserted or deleted base 3; any mismatch at a read base flagged
//   low-quality (`read_lowq`, one bit per base of the read stream) 1.
// Output per task: best cost and the diagonal where the read's last base
// lands (u32 pair); the host takes best and second best across a read's tasks
// and traces back the accepted one.

struct Params {
    tasks: u32,
    pad: u32,
    damage_len: u32,
    ref_len: u32,
}

struct Task {
    read_start: u32, // first base of the read in the packed read stream
    read_len: u32,
    ref_start: u32, // global reference coordinate of window base 0 (may be clamped)
    strand: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> ref_codes: array<u32>;
@group(0) @binding(2) var<storage, read> ref_nmask: array<u32>;
@group(0) @binding(3) var<storage, read> read_codes: array<u32>;
@group(0) @binding(4) var<storage, read> read_nmask: array<u32>;
@group(0) @binding(5) var<storage, read> tasks: array<Task>;
@group(0) @binding(6) var<storage, read_write> out: array<u32>;
@group(0) @binding(7) var<storage, read> read_lowq: array<u32>;

const MAX_BAND: u32 = 65u; // 2·pad + 1 ≤ 65, pad ≤ 32
const INF: i32 = 1000000;
const GAP: i32 = 3;

fn ref_code(pos: u32) -> u32 {
    if pos >= params.ref_len || ((ref_nmask[pos >> 5u] >> (pos & 31u)) & 1u) == 1u {
        return 4u;
    }
    return (ref_codes[pos >> 4u] >> ((pos & 15u) * 2u)) & 3u;
}

fn read_code(pos: u32) -> u32 {
    if ((read_nmask[pos >> 5u] >> (pos & 31u)) & 1u) == 1u {
        return 4u;
    }
    return (read_codes[pos >> 4u] >> ((pos & 15u) * 2u)) & 3u;
}

fn read_low_quality(pos: u32) -> bool {
    let w = pos >> 5u;
    if w >= arrayLength(&read_lowq) {
        return false;
    }
    return ((read_lowq[w] >> (pos & 31u)) & 1u) == 1u;
}

// Cost of aligned read base q (already complemented for reverse tasks) at
// aligned position i against reference base r; lq: that base is low-quality.
fn sub_cost(r: u32, q: u32, i: u32, len: u32, strand: u32, lq: bool) -> i32 {
    if r == 4u || q == 4u {
        return 2;
    }
    if r == q {
        return 0;
    }
    if lq {
        return 1;
    }
    var d5 = i; // distance from the molecule's 5' end
    var d3 = len - 1u - i;
    if strand == 1u {
        d5 = len - 1u - i;
        d3 = i;
    }
    // codes: A0 C1 G2 T3
    let c_to_t = r == 1u && q == 3u;
    let g_to_a = r == 2u && q == 0u;
    if strand == 0u {
        if (c_to_t && d5 < params.damage_len) || (g_to_a && d3 < params.damage_len) {
            return 1;
        }
    } else {
        if (g_to_a && d5 < params.damage_len) || (c_to_t && d3 < params.damage_len) {
            return 1;
        }
    }
    return 2;
}

@compute @workgroup_size(64)
fn align(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let t = gid.x + gid.y * nwg.x * 64u;
    if t >= params.tasks {
        return;
    }
    let task = tasks[t];
    let len = task.read_len;
    let band = min(2u * params.pad + 1u, MAX_BAND);
    var prev: array<i32, 65>;
    var cur: array<i32, 65>;
    // Row "-1": the read has not started; any diagonal start is free.
    for (var d = 0u; d < band; d++) {
        prev[d] = 0;
    }
    for (var i = 0u; i < len; i++) {
        var q = 0u;
        var lq = false;
        if task.strand == 0u {
            q = read_code(task.read_start + i);
            lq = read_low_quality(task.read_start + i);
        } else {
            q = read_code(task.read_start + len - 1u - i);
            lq = read_low_quality(task.read_start + len - 1u - i);
            if q < 4u {
                q = 3u - q;
            }
        }
        for (var d = 0u; d < band; d++) {
            // cell (i, j = i + d): diagonal from (i-1, j-1) = prev[d];
            // insertion (read base, no ref) from (i-1, j) = prev[d+1];
            // deletion (ref base, no read) from (i, j-1) = cur[d-1].
            let r = ref_code(task.ref_start + i + d);
            var best = prev[d] + sub_cost(r, q, i, len, task.strand, lq);
            if d + 1u < band {
                best = min(best, prev[d + 1u] + GAP);
            }
            if d > 0u {
                best = min(best, cur[d - 1u] + GAP);
            }
            cur[d] = best;
        }
        for (var d = 0u; d < band; d++) {
            prev[d] = cur[d];
        }
    }
    var best = INF;
    var best_d = 0u;
    for (var d = 0u; d < band; d++) {
        if prev[d] < best {
            best = prev[d];
            best_d = d;
        }
    }
    out[2u * t] = u32(best);
    out[2u * t + 1u] = best_d;
}
