// k-mer frequency profiles: one workgroup per sequence.
//
// Input: base codes, one u32 per base (A=0 C=1 G=2 T=3, anything else 4), all
// sequences concatenated; offsets[s]..offsets[s+1] is sequence s. A k-mer is
// valid when none of its k bases is 4; its bin is the base-4 number of its
// bases, first base most significant (AAAAAA = 0, TTTTTT = 4^k - 1).
// Output row s (4^k floats): count of each valid k-mer / number of valid
// k-mers in s (Scorpio's normalisation); a sequence with none gets zeros.
//
// The 4^k counters live in workgroup memory (k <= 6: 4096 words = 16 KiB).
// After counting, each invocation holds its BINS/256 counters in registers,
// the total is reduced through the first 256 words, and the row is written.

const WG: u32 = 256u;
const MAX_BINS: u32 = 4096u;
const PER: u32 = 16u; // MAX_BINS / WG

struct Params {
    k: u32,
    bins: u32, // 4^k
    first: u32, // first sequence of this dispatch (offsets index)
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> codes: array<u32>;
@group(0) @binding(2) var<storage, read> offsets: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

var<workgroup> counts: array<atomic<u32>, 4096>;

@compute @workgroup_size(256)
fn kmer_profile(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let t = lid.x;
    let row = wid.x;
    let s = params.first + row;
    for (var b = t; b < MAX_BINS; b += WG) {
        atomicStore(&counts[b], 0u);
    }
    workgroupBarrier();
    let start = offsets[s];
    let end = offsets[s + 1u];
    let k = params.k;
    if end - start >= k {
        let last = end - k;
        for (var p = start + t; p <= last; p += WG) {
            var code = 0u;
            var ok = true;
            for (var j = 0u; j < k; j++) {
                let c = codes[p + j];
                ok = ok && c < 4u;
                code = code * 4u + min(c, 3u);
            }
            if ok {
                atomicAdd(&counts[code], 1u);
            }
        }
    }
    workgroupBarrier();
    var mine: array<u32, PER>;
    var part = 0u;
    for (var i = 0u; i < PER; i++) {
        let b = t + i * WG;
        mine[i] = atomicLoad(&counts[b]);
        part += mine[i];
    }
    workgroupBarrier();
    atomicStore(&counts[t], part);
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if t < stride {
            atomicAdd(&counts[t], atomicLoad(&counts[t + stride]));
        }
        workgroupBarrier();
    }
    let total = atomicLoad(&counts[0]);
    let inv = select(0.0, 1.0 / f32(total), total > 0u);
    let base = row * params.bins;
    for (var i = 0u; i < PER; i++) {
        let b = t + i * WG;
        if b < params.bins {
            out[base + b] = f32(mine[i]) * inv;
        }
    }
}
