// Sequence encoding from 2-bit packed DNA.
// Packing: base i has code (A=0, C=1, G=2, T=3) in bits 2*(i%16)..+2 of
// codes[i/16]; bit i%32 of nmask[i/32] is set where the base is N (any
// non-ACGT), and then its code bits are 0. The complement of code q is 3 - q.
//
// onehot_windows: window w covers bases [start, end) of the packed stream,
// read forward (strand 0) or reverse-complemented (strand 1), and is written
// as a one-hot [4, k] block of out ([n_windows, 4, k], channel-major, ready for
// conv1d). Position j of a forward window is base start + j; of a reverse
// window the complement of base end - 1 - j. Positions past the window's
// bases (short reads) and N bases are all-zero columns.
//
// revcomp_codes / revcomp_nmask: the reverse complement of a packed sequence
// of params.len bases, one output word per invocation.

struct Params {
    n_windows: u32,
    k: u32,
    len: u32,
    _pad: u32,
}

struct Window {
    start: u32,
    end: u32,
    strand: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> codes: array<u32>;
@group(0) @binding(2) var<storage, read> nmask: array<u32>;
@group(0) @binding(3) var<storage, read> windows: array<Window>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn code_at(pos: u32) -> u32 {
    // 4 = N
    if ((nmask[pos >> 5u] >> (pos & 31u)) & 1u) == 1u {
        return 4u;
    }
    return (codes[pos >> 4u] >> ((pos & 15u) * 2u)) & 3u;
}

@compute @workgroup_size(256)
fn onehot_windows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let idx = gid.x + gid.y * nwg.x * 256u;
    if idx >= params.n_windows * params.k {
        return;
    }
    let w = idx / params.k;
    let j = idx % params.k;
    let win = windows[w];
    var code = 4u;
    let n_bases = win.end - win.start;
    if j < n_bases {
        if win.strand == 0u {
            code = code_at(win.start + j);
        } else {
            code = code_at(win.end - 1u - j);
            if code < 4u {
                code = 3u - code;
            }
        }
    }
    let base = w * 4u * params.k + j;
    for (var ch = 0u; ch < 4u; ch++) {
        out[base + ch * params.k] = select(0.0, 1.0, code == ch);
    }
}

@group(0) @binding(5) var<storage, read_write> out_words: array<u32>;

@compute @workgroup_size(256)
fn revcomp_codes(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let w = gid.x + gid.y * nwg.x * 256u;
    if w >= (params.len + 15u) / 16u {
        return;
    }
    var word = 0u;
    for (var b = 0u; b < 16u; b++) {
        let i = w * 16u + b;
        if i < params.len {
            let src = params.len - 1u - i;
            var q = (codes[src >> 4u] >> ((src & 15u) * 2u)) & 3u;
            if ((nmask[src >> 5u] >> (src & 31u)) & 1u) == 0u {
                q = 3u - q;
            } else {
                q = 0u;
            }
            word |= q << (b * 2u);
        }
    }
    out_words[w] = word;
}

@compute @workgroup_size(256)
fn revcomp_nmask(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let w = gid.x + gid.y * nwg.x * 256u;
    if w >= (params.len + 31u) / 32u {
        return;
    }
    var word = 0u;
    for (var b = 0u; b < 32u; b++) {
        let i = w * 32u + b;
        if i < params.len {
            let src = params.len - 1u - i;
            word |= ((nmask[src >> 5u] >> (src & 31u)) & 1u) << b;
        }
    }
    out_words[w] = word;
}
