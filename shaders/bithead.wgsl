// Bit head: loss and decoding of a genome coordinate read out bit by bit.
//
// bce: per-bit binary cross-entropy with logits over a [rows, bits] matrix,
// targets t in {0, 1}; out_grad = (σ(x) - t) * scale (scale = 1 / (rows·bits)),
// out_loss[r] = Σ_b softplus(x) - t·x (numerically stable form
// max(x, 0) - t·x + log(1 + exp(-|x|))).
//
// decode: for each window, the top M = 2^flip most likely coordinates. The
// most likely coordinate takes bit b = 1 where logit_b > 0; alternatives flip
// subsets of the `flip` least confident bits (smallest |logit|). The log-
// probability of a coordinate is Σ_b log σ(±logit_b); flipping bit b costs
// |logit_b| - log(1+exp(-|x|)) + log(1+exp(-|x|)) = |logit_b| exactly
// (log σ(x) - log σ(-x) = x), so a subset's score is base - Σ_{b∈S} |logit_b|.
// Coordinates ≥ params.limit (past the genome end) get score -3e38.
// Output per window: M (coordinate, score) pairs, coordinate as u32 bits,
// in subset order (subset mask m = 0 .. M-1 over the sorted flip bits).

// most flipped bits (ops::bithead::MAX_FLIP)
const MAX_FLIP: u32 = 8u;

struct Params {
    rows: u32,
    bits: u32,
    flip: u32,
    limit: u32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;
@group(0) @binding(3) var<storage, read_write> out_grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> out_loss: array<f32>;

fn log_sigmoid(x: f32) -> f32 {
    // log σ(x) = min(x, 0) - log(1 + exp(-|x|))
    return min(x, 0.0) - log(1.0 + exp(-abs(x)));
}

@compute @workgroup_size(64)
fn bce(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = gid.x + gid.y * nwg.x * 64u;
    if r >= params.rows {
        return;
    }
    var l = 0.0;
    for (var b = 0u; b < params.bits; b++) {
        let i = r * params.bits + b;
        let x = logits[i];
        let t = targets[i];
        l += max(x, 0.0) - t * x + log(1.0 + exp(-abs(x)));
        let s = 1.0 / (1.0 + exp(-x));
        out_grad[i] = (s - t) * params.scale;
    }
    out_loss[r] = l;
}

@group(0) @binding(5) var<storage, read_write> out_cand: array<u32>;

@compute @workgroup_size(64)
fn decode(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let r = gid.x + gid.y * nwg.x * 64u;
    if r >= params.rows {
        return;
    }
    var base_coord = 0u;
    var base_score = 0.0;
    // conf[b] = |logit_b|; pick the `flip` smallest by repeated selection.
    var chosen = 0u; // bit mask of chosen bit positions
    var flip_bits: array<u32, MAX_FLIP>;
    var flip_cost: array<f32, MAX_FLIP>;
    for (var b = 0u; b < params.bits; b++) {
        let x = logits[r * params.bits + b];
        if x > 0.0 {
            base_coord |= 1u << b;
        }
        base_score += log_sigmoid(abs(x));
    }
    for (var f = 0u; f < params.flip; f++) {
        var best = 0u;
        var best_c = 3.0e38;
        for (var b = 0u; b < params.bits; b++) {
            let c = abs(logits[r * params.bits + b]);
            if ((chosen >> b) & 1u) == 0u && c < best_c {
                best_c = c;
                best = b;
            }
        }
        chosen |= 1u << best;
        flip_bits[f] = best;
        flip_cost[f] = best_c;
    }
    let m_count = 1u << params.flip;
    for (var m = 0u; m < m_count; m++) {
        var coord = base_coord;
        var score = base_score;
        for (var f = 0u; f < params.flip; f++) {
            if ((m >> f) & 1u) == 1u {
                coord ^= 1u << flip_bits[f];
                score -= flip_cost[f];
            }
        }
        if coord >= params.limit {
            score = -3.0e38;
        }
        let o = (r * m_count + m) * 2u;
        out_cand[o] = coord;
        out_cand[o + 1u] = bitcast<u32>(score);
    }
}
