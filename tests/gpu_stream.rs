//! The device stream and buffer pool: work is recorded into one open
//! command stream and buffers are reused across batches, so these check
//! that order is kept (a later upload never changes what earlier recorded
//! work reads) and that a pooled buffer never aliases live data.

mod common;

use common::gpu;

/// A device context of this test's own: counters and the pool are shared
/// by everything on a context, and tests run in parallel.
fn own_gpu() -> std::sync::Arc<crest::gpu::Gpu> {
    gpu().expect("no GPU adapter");
    crest::gpu::Gpu::new(
        &crest::gpu::DeviceChoice::Auto,
        &crest::gpu::Requirements::default(),
    )
    .expect("a second context on the adapter")
    .0
}

#[test]
fn pooled_buffers_never_alias_live_data() {
    let g = gpu().expect("no GPU adapter");
    // sizes that share a pool size class, and awkward lengths
    for n in [1usize, 7, 63, 64, 1000, 4097] {
        let data: Vec<u32> = (0..n as u32).map(|i| i * 3 + 1).collect();
        let a = g.upload("a", &data).unwrap();
        let b = g.zeros("b", n).unwrap();
        // recorded, not yet submitted: b ← a
        g.copy_into(&a, &b, n).unwrap();
        drop(a);
        // same size class right away: must not get a's buffer, whose copy
        // has not run yet (an upload lands before the next submission)
        let poison = vec![0xDEAD_BEEFu32; n];
        let c = g.upload("c", &poison).unwrap();
        let z = g.zeros("z", n).unwrap();
        assert_eq!(
            g.read::<u32>(&b).unwrap(),
            data,
            "n={n}: b saw a reused buffer"
        );
        assert_eq!(g.read::<u32>(&c).unwrap(), poison, "n={n}");
        assert!(g.read::<u32>(&z).unwrap().iter().all(|&x| x == 0), "n={n}");
    }
}

#[test]
fn freed_buffers_are_reused_after_a_wait_and_cleared_when_zeroed() {
    let g = own_gpu();
    let n = 3001;
    let ones = vec![1u32; n];
    // fill and free a buffer, wait: it is free for reuse
    let a = g.upload("a", &ones).unwrap();
    drop(a);
    g.sync().unwrap();
    let created = g.counters().buffers_created;
    // the same size class comes from the pool, cleared
    let z = g.zeros("z", n).unwrap();
    assert_eq!(
        g.counters().buffers_created,
        created,
        "no buffer came from the pool"
    );
    let got = g.read::<u32>(&z).unwrap();
    assert!(
        got.iter().all(|&x| x == 0),
        "a reused buffer was not cleared"
    );
    // and a freed buffer is not reused before a wait
    drop(z);
    let created = g.counters().buffers_created;
    let _w = g.zeros("w", n).unwrap();
    assert_eq!(
        g.counters().buffers_created,
        created + 1,
        "a buffer was reused before the device was done with it"
    );
}

#[test]
fn a_write_after_recorded_work_does_not_change_what_it_read() {
    let g = gpu().expect("no GPU adapter");
    let n = 513;
    let old: Vec<u32> = (0..n as u32).collect();
    let src = g.upload("src", &old).unwrap();
    let dst = g.zeros("dst", n).unwrap();
    g.copy_into(&src, &dst, n).unwrap(); // recorded
    g.write(&src, &vec![7u32; n]).unwrap(); // after it, in order
    assert_eq!(g.read::<u32>(&dst).unwrap(), old);
    assert_eq!(g.read::<u32>(&src).unwrap(), vec![7u32; n]);
}

#[test]
fn submissions_are_batched_and_counted() {
    let g = own_gpu();
    let n = 100;
    let a = g.upload("a", &vec![5u32; n]).unwrap();
    let b = g.zeros("b", n).unwrap();
    g.sync().unwrap();
    let before = g.counters();
    for _ in 0..50 {
        g.copy_into(&a, &b, n).unwrap();
    }
    let got = g.read::<u32>(&b).unwrap();
    assert_eq!(got, vec![5u32; n]);
    let d = g.counters().since(&before);
    // 50 copies and a read-back: one submission, one wait, 50 passes'
    // worth of work recorded without a submission each
    assert_eq!(d.submissions, 1, "{d:?}");
    assert_eq!(d.waits, 1, "{d:?}");
    assert_eq!(d.bytes_down, n as u64 * 4);
    assert_eq!(d.bytes_up, 0);
    let (quarantined, free) = g.pool_sizes();
    assert!(quarantined + free < 100_000);
}
