//! The jitter buffer's tests: ordering, loss, lateness, growth and shrinking,
//! hostile indices, and the simulated networks of `netsim`.

use super::*;
use crate::netsim::{NetSim, NetSimConfig};
use std::collections::HashSet;

const CPF: usize = 2;

fn packet(index: u32) -> Packet {
    Packet {
        seq: index,
        frame_index: index,
        model_tag: 7,
        bits: 16,
        codebooks: CPF as u8,
        frames: 1,
        codes: vec![index as u16, (index >> 16) as u16],
    }
}

fn codes_index(out: &[u16]) -> u32 {
    u32::from(out[0]) | (u32::from(out[1]) << 16)
}

#[derive(Debug, Default)]
struct Report {
    stats: JitterStats,
    /// Frames the network lost whose turn came (played as Missing).
    lost_in_played: u64,
    /// Missing pops whose frame did arrive, but too late.
    missing_late: u64,
    /// Missing pops over the measured part (after `settle` frames).
    missing_after_settle: u64,
    max_depth_after_settle: usize,
    max_target_after_settle: usize,
    stalls: u64,
    net_lost: u64,
    net_duplicated: u64,
}

/// Sends `frames` one-frame packets from `start`, one every 20 ms, through
/// `net`, pushing deliveries and popping once per 20 ms. Checks that every
/// played frame carries the right codes and that indices play in order.
/// `phases` switch the network config at the given frame numbers.
fn simulate(net_config: NetSimConfig, phases: &[(u32, NetSimConfig)], frames: u32, start: u32, settle: u32) -> Report {
    let mut net = NetSim::new(net_config);
    let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
    let mut delivered = HashSet::new();
    let mut missing = Vec::new();
    let mut report = Report::default();
    let mut expect: Option<u32> = None;
    let mut dropped_seen = 0;
    let mut out = [0u16; CPF];
    let mut step = 0u32;
    // Keep popping after the last send until everything sent has played.
    loop {
        let now = f64::from(step) * 20.0;
        if let Some((_, cfg)) = phases.iter().find(|(at, _)| *at == step) {
            net.set_config(*cfg);
        }
        if step < frames {
            net.send(packet(start.wrapping_add(step)), now);
        }
        for (p, arrival) in net.deliver(now) {
            delivered.insert(p.frame_index);
            jb.push(&p, arrival);
        }
        // Depth as the playback clock sees it, just before it pops.
        let depth = jb.stats().depth_frames;
        let played = jb.pop(&mut out);
        let stats = jb.stats();
        let index = match played {
            Playout::Frame { index } => {
                assert_eq!(codes_index(&out), index, "wrong codes for frame {index}");
                Some(index)
            }
            Playout::Missing { index } => {
                missing.push((index, step));
                Some(index)
            }
            Playout::Stretch => None,
            Playout::Buffering => {
                if expect.is_some() {
                    report.stalls += 1;
                }
                None
            }
        };
        if let Some(index) = index {
            if let Some(e) = expect {
                let skipped = stats.dropped_for_delay - dropped_seen;
                assert_eq!(i64::from(serial_diff(index, e)), skipped as i64, "out of order at step {step}");
            }
            dropped_seen = stats.dropped_for_delay;
            expect = Some(index.wrapping_add(1));
        }
        if step >= settle {
            report.max_depth_after_settle = report.max_depth_after_settle.max(depth);
            report.max_target_after_settle = report.max_target_after_settle.max(stats.target_delay_frames);
        }
        step += 1;
        let done = expect.is_some_and(|e| serial_diff(e, start.wrapping_add(frames)) >= 0);
        if done || step > frames + 1000 {
            break;
        }
    }
    for &(index, at) in &missing {
        if delivered.contains(&index) {
            report.missing_late += 1;
        } else {
            report.lost_in_played += 1;
        }
        if at >= settle {
            report.missing_after_settle += 1;
        }
    }
    report.stats = jb.stats();
    report.net_lost = net.stats().lost;
    report.net_duplicated = net.stats().duplicated;
    report
}

fn print(name: &str, r: &Report) {
    let s = &r.stats;
    println!(
        "{name}: played {} missing {} (lost {} late-missing {}, after settle {}) net_lost {} late {} dup {} \
         dropped_for_delay {} stretched {} target {} depth {} max_target {} max_depth {} jitter {:.1} ms",
        s.played,
        s.missing,
        r.lost_in_played,
        r.missing_late,
        r.missing_after_settle,
        r.net_lost,
        s.late,
        s.duplicate,
        s.dropped_for_delay,
        s.stretched,
        s.target_delay_frames,
        s.depth_frames,
        r.max_target_after_settle,
        r.max_depth_after_settle,
        s.jitter_ms
    );
}

/// Frames completed by a capture device that delivers `piece_ms` at a
/// time (frame n is sent when the piece holding its last sample comes),
/// popped every 20 ms from `phase_ms`, on a millisecond clock. Returns
/// the stats and the late frames after the first `settle_ms`.
fn capture_pieces(piece_ms: u32, phase_ms: u32, ms: u32, settle_ms: u32) -> (JitterStats, u64) {
    let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
    let mut out = [0u16; CPF];
    let (mut sent, mut late_at_settle) = (0u32, 0);
    for t in 0..ms {
        if t.is_multiple_of(piece_ms) {
            // Everything captured up to t: frames whose 20 ms are complete.
            while (sent + 1) * 20 <= t {
                jb.push(&packet(sent), f64::from(t));
                sent += 1;
            }
        }
        if t >= phase_ms && (t - phase_ms).is_multiple_of(20) {
            jb.pop(&mut out);
        }
        if t == settle_ms {
            late_at_settle = jb.stats().late;
        }
    }
    let stats = jb.stats();
    (stats, stats.late - late_at_settle)
}

#[test]
fn uneven_capture_pieces_raise_the_delay_until_nothing_is_late() {
    for piece in [10, 15, 25, 30] {
        for phase in 0..20 {
            let (stats, late) = capture_pieces(piece, phase, 60_000, 10_000);
            assert_eq!(late, 0, "pieces of {piece} ms, pops at +{phase} ms: {stats:?}");
            assert!(stats.target_delay_frames <= 3, "pieces of {piece} ms: {stats:?}");
        }
    }
}

#[test]
fn in_order_without_jitter_plays_everything_at_min_delay() {
    let r = simulate(NetSimConfig::default(), &[], 3000, 0, 0);
    print("in-order", &r);
    assert_eq!(r.stats.played, 3000);
    assert_eq!(r.stats.missing, 0);
    assert_eq!(r.stats.target_delay_frames, 1);
    assert_eq!(r.max_target_after_settle, 1);
    assert!(r.max_depth_after_settle <= 1);
    assert_eq!((r.stats.stretched, r.stats.dropped_for_delay, r.stalls), (0, 0, 0));
}

fn check_loss(name: &str, config: NetSimConfig) {
    let frames = 30_000;
    let r = simulate(config, &[], frames, 0, 0);
    print(name, &r);
    assert!(r.net_lost > 0);
    // Loss is concealed once per lost frame and never mistaken for lateness.
    assert_eq!(r.stats.missing, r.lost_in_played);
    assert_eq!(r.missing_late, 0);
    assert!(r.net_lost - r.lost_in_played <= 1, "only a lost first frame is never due");
    assert_eq!(r.stats.played + r.stats.missing, u64::from(frames) - (r.net_lost - r.lost_in_played));
    assert_eq!(r.stalls, 0);
    assert_eq!((r.stats.stretched, r.stats.dropped_for_delay), (0, 0));
    assert_eq!(r.max_target_after_settle, 1);
    assert!(r.max_depth_after_settle <= 1);
}

#[test]
fn random_loss_5_pct() {
    check_loss("loss 5%", NetSimConfig { loss_pct: 5.0, seed: 1, ..Default::default() });
}

#[test]
fn random_loss_20_pct() {
    check_loss("loss 20%", NetSimConfig { loss_pct: 20.0, seed: 2, ..Default::default() });
}

#[test]
fn burst_loss_mean_5() {
    check_loss("bursts of 5, 10%", NetSimConfig { loss_pct: 10.0, burst_len: 5.0, seed: 3, ..Default::default() });
}

#[test]
fn fixed_bursts_of_5_lost_packets() {
    // Every 50th packet starts a burst of exactly 5 losses.
    let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
    let mut out = [0u16; CPF];
    let mut lost = 0;
    for n in 0..30_000u32 {
        if n % 50 < 45 || n < 50 {
            jb.push(&packet(n), f64::from(n) * 20.0);
        } else {
            lost += 1;
        }
        assert!(matches!(jb.pop(&mut out), Playout::Frame { index } | Playout::Missing { index } if index == n));
        let s = jb.stats();
        assert!(s.target_delay_frames == 1 && s.depth_frames <= 1);
    }
    let s = jb.stats();
    assert_eq!((s.missing, s.played), (lost, 30_000 - lost));
}

#[test]
fn loss_with_jitter_keeps_delay_bounded() {
    let config = NetSimConfig { loss_pct: 20.0, burst_len: 3.0, jitter_ms: 40.0, seed: 4, ..Default::default() };
    let r = simulate(config, &[], 30_000, 0, 1000);
    print("loss 20% bursts 3 + jitter 40", &r);
    assert_eq!(r.stalls, 0);
    assert!(r.max_target_after_settle <= 4, "target {}", r.max_target_after_settle);
    assert!(r.max_depth_after_settle <= 5, "depth {}", r.max_depth_after_settle);
    assert!(r.missing_late < 300, "late-missing {}", r.missing_late);
}

fn check_jitter_rise_and_fall(jitter_ms: f64, expect_target: usize) {
    let jittery = NetSimConfig { jitter_ms, seed: 5, ..Default::default() };
    let calm = NetSimConfig { seed: 5, ..Default::default() };
    // 5 minutes of jitter: the target rises to cover it and few frames
    // are missing once it has adapted (after the first 10 s).
    let during = simulate(jittery, &[], 15_000, 0, 500);
    print(&format!("jitter {jitter_ms} ms"), &during);
    assert_eq!(during.stats.target_delay_frames, expect_target);
    assert!(during.max_target_after_settle <= expect_target + 1);
    assert!(during.max_depth_after_settle <= expect_target + 2, "depth {}", during.max_depth_after_settle);
    assert!(during.missing_after_settle <= 5, "missing after adaptation {}", during.missing_after_settle);
    assert_eq!(during.stalls, 0);
    // Then a calm minute: the delay falls back to the minimum.
    let r = simulate(jittery, &[(15_000, calm)], 18_000, 0, 15_000 + 1500);
    print(&format!("jitter {jitter_ms} ms then calm"), &r);
    assert_eq!(r.stats.target_delay_frames, 1);
    assert!(r.max_depth_after_settle <= 1, "depth {}", r.max_depth_after_settle);
    assert_eq!(r.missing_after_settle, 0);
    assert!(r.stats.dropped_for_delay >= (expect_target - 1) as u64);
    assert_eq!(r.stalls, 0);
}

#[test]
fn jitter_40ms_raises_target_then_it_falls_back() {
    // Arrivals spread over [0, 40) ms are pushed on a 20 ms clock: they
    // land within 2 consecutive pops, so 1 frame of margin covers them.
    check_jitter_rise_and_fall(40.0, 2);
}

#[test]
fn jitter_100ms_raises_target_then_it_falls_back() {
    check_jitter_rise_and_fall(100.0, 5);
}

#[test]
fn reordered_frames_play_in_order() {
    let config =
        NetSimConfig { reorder_pct: 10.0, reorder_delay_ms: 30.0, jitter_ms: 10.0, seed: 6, ..Default::default() };
    // `simulate` asserts the order and the codes of every frame.
    let r = simulate(config, &[], 10_000, 0, 1000);
    print("reorder 10%", &r);
    assert_eq!(r.stats.missing, r.missing_late + r.lost_in_played);
    assert_eq!(r.lost_in_played, 0);
    assert!(r.missing_after_settle <= 5, "missing after adaptation {}", r.missing_after_settle);
    assert!(r.max_target_after_settle <= 4);

    // Small deterministic case: 2, 0, 1 before playout; 4 before 3 during.
    let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
    let mut out = [0u16; CPF];
    for i in [2, 0, 1] {
        jb.push(&packet(i), 0.0);
    }
    for i in 0..3 {
        assert_eq!(jb.pop(&mut out), Playout::Frame { index: i });
        assert_eq!(codes_index(&out), i);
    }
    jb.push(&packet(4), 0.0);
    jb.push(&packet(3), 0.0);
    assert_eq!(jb.pop(&mut out), Playout::Frame { index: 3 });
    assert_eq!(jb.pop(&mut out), Playout::Frame { index: 4 });
    assert_eq!(jb.stats().late, 0);
}

#[test]
fn duplicates_late_and_overflow_are_counted_and_dropped() {
    let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
    let mut out = [0u16; CPF];
    for i in (0..10).filter(|&i| i != 7) {
        assert_eq!(jb.push(&packet(i), 0.0).accepted, 1);
    }
    for i in 0..5 {
        assert_eq!(jb.pop(&mut out), Playout::Frame { index: i });
    }
    assert_eq!(jb.push(&packet(3), 0.0).duplicate, 1, "already played");
    assert_eq!(jb.push(&packet(8), 0.0).duplicate, 1, "already buffered");
    assert_eq!(jb.push(&packet(1000), 0.0).overflow, 1, "beyond capacity");
    for i in 5..7 {
        assert_eq!(jb.pop(&mut out), Playout::Frame { index: i });
    }
    assert_eq!(jb.pop(&mut out), Playout::Missing { index: 7 });
    assert_eq!(jb.push(&packet(7), 0.0).late, 1, "very late");
    assert_eq!(jb.push(&packet(7), 0.0).duplicate, 1, "a second copy of a late frame");
    // The late arrival is 1 of 4 recent arrivals: the delay grows first.
    assert_eq!(jb.pop(&mut out), Playout::Stretch);
    assert_eq!(jb.pop(&mut out), Playout::Frame { index: 8 });
    let s = jb.stats();
    assert_eq!((s.received, s.played, s.missing, s.late, s.duplicate, s.overflow), (9, 8, 1, 1, 3, 1));

    // A packet that does not match the configuration is rejected whole.
    let mut bad = packet(9);
    bad.codebooks = 3;
    assert!(jb.push(&bad, 0.0).invalid);
    assert_eq!(jb.stats().invalid, 1);

    // Through the simulator: every extra copy is counted as a duplicate.
    let config = NetSimConfig { duplicate_pct: 5.0, loss_pct: 5.0, seed: 7, ..Default::default() };
    let r = simulate(config, &[], 10_000, 0, 0);
    print("duplicates 5%", &r);
    assert!(r.net_duplicated > 300);
    assert_eq!(r.stats.duplicate, r.net_duplicated);
    assert_eq!(r.stats.missing, r.lost_in_played);

    jb.reset();
    assert_eq!(jb.stats(), JitterStats { target_delay_frames: 1, ..Default::default() });
    assert_eq!(jb.pop(&mut out), Playout::Buffering);
}

#[test]
fn frame_index_wraps_around_u32_max() {
    let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
    let mut out = [0u16; CPF];
    let start = u32::MAX - 2;
    // Reordered across the wrap before playout starts.
    for i in [1u32, 0, 2] {
        jb.push(&packet(start.wrapping_add(i)), 0.0);
    }
    for i in 0..6u32 {
        let index = start.wrapping_add(i);
        jb.push(&packet(start.wrapping_add(i + 3)), 0.0);
        assert_eq!(jb.pop(&mut out), Playout::Frame { index });
        assert_eq!(codes_index(&out), index);
    }
    assert_eq!(jb.next_frame_index(), Some(3));

    let config = NetSimConfig {
        loss_pct: 5.0,
        burst_len: 2.0,
        jitter_ms: 30.0,
        reorder_pct: 5.0,
        seed: 8,
        ..Default::default()
    };
    let r = simulate(config, &[], 5_000, u32::MAX - 2_000, 0);
    print("wrap-around", &r);
    assert_eq!(r.stats.missing, r.lost_in_played + r.missing_late);
    assert!(r.stats.played > 4_500);
    assert_eq!(r.stats.resyncs, 0);
}

/// A steady stream of one-frame packets, one every 20 ms, each pushed
/// on time and popped once; `extra(n)` gives packets to push as
/// well before pop `n`. Asserts that every pop plays the stream's own
/// frame, and that the delay and the jitter estimate never move.
fn steady_stream_with(mut extra: impl FnMut(u32) -> Vec<Packet>) -> JitterBuffer {
    let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
    let mut out = [0u16; CPF];
    for n in 0..1_000u32 {
        jb.push(&packet(n), f64::from(n) * 20.0);
        for p in extra(n) {
            jb.push(&p, f64::from(n) * 20.0);
        }
        assert_eq!(jb.pop(&mut out), Playout::Frame { index: n }, "pop {n}");
        assert_eq!(codes_index(&out), n, "pop {n} played another frame's codes");
        let s = jb.stats();
        assert_eq!((s.target_delay_frames, s.stretched, s.dropped_for_delay), (1, 0, 0), "pop {n}: {s:?}");
        assert!(s.jitter_ms < 1.0, "pop {n}: jitter estimate {} ms", s.jitter_ms);
    }
    jb
}

#[test]
fn stale_packets_do_not_move_the_delay_or_the_jitter_estimate() {
    // Three copies of a frame played 4 s ago, as a replay or a stale
    // route would deliver them.
    let jb = steady_stream_with(|n| if n == 300 { vec![packet(100); 3] } else { Vec::new() });
    let s = jb.stats();
    assert_eq!((s.played, s.missing, s.late, s.stale), (1_000, 0, 0, 3), "{s:?}");
}

#[test]
fn an_end_marker_is_plausible_only_after_what_was_received() {
    let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
    let mut out = [0u16; CPF];
    assert!(!jb.is_plausible_end(0), "no stream yet");
    for n in 100..110u32 {
        jb.push(&packet(n), 0.0);
    }
    for _ in 0..5 {
        jb.pop(&mut out);
    }
    // Frames 105-109 wait to play; 110 is the first not received.
    for stale in [0, 100, 105, 109, u32::MAX] {
        assert!(!jb.is_plausible_end(stale), "{stale}");
    }
    assert!(jb.is_plausible_end(110));
    assert!(jb.is_plausible_end(110 + 64), "the last frames may have been lost");
    assert!(!jb.is_plausible_end(110 + 65), "further than the buffer holds");
    assert!(!jb.is_plausible_end(1_000_000));
    // Played past the newest frame by concealment, the marker of the
    // frames lost meanwhile still fits.
    for _ in 0..10 {
        jb.pop(&mut out);
    }
    assert_eq!(jb.next_frame_index(), Some(115));
    assert!(jb.is_plausible_end(110) && !jb.is_plausible_end(109));
}

#[test]
fn forged_packets_at_random_indices_are_neither_played_nor_counted_in_the_delay() {
    // From pop 200 on, 20 forged packets before every pop, at random
    // frame indices, with codes that are no frame's.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let jb = steady_stream_with(|n| {
        if n < 200 {
            return Vec::new();
        }
        (0..20)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let mut p = packet(seed as u32);
                p.codes = vec![0xdead, 0xbeef];
                p
            })
            .collect()
    });
    let s = jb.stats();
    assert_eq!((s.played, s.missing, s.resyncs), (1_000, 0, 0), "{s:?}");
}

#[test]
fn resynchronises_when_the_stream_jumps() {
    let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
    let mut out = [0u16; CPF];
    for i in 0..100u32 {
        jb.push(&packet(i), 0.0);
        assert_eq!(jb.pop(&mut out), Playout::Frame { index: i });
    }
    // The sender restarts far away: those frames overflow until the
    // buffer gives up on the old stream.
    let base = 1_000_000u32;
    let mut resynced_at = None;
    for i in 0..40u32 {
        let outcome = jb.push(&packet(base + i), 0.0);
        if outcome.resync {
            resynced_at = Some(i);
        }
        jb.pop(&mut out);
    }
    assert_eq!(resynced_at, Some(RESYNC_AFTER_PACKETS - 1));
    assert_eq!(jb.stats().resyncs, 1);
    jb.push(&packet(base + 40), 0.0);
    assert_eq!(jb.pop(&mut out), Playout::Frame { index: base + 40 });
}

mod alloc_count {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    pub struct Counting;

    thread_local! {
        pub static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    }

    // SAFETY: forwards to the system allocator; only counts calls.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
            // SAFETY: same contract as the caller's.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: same contract as the caller's.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
            // SAFETY: same contract as the caller's.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;
}

#[test]
fn push_and_pop_do_not_allocate() {
    // Packets prepared up front: loss, reordering, duplicates, late frames.
    let config = NetSimConfig {
        loss_pct: 10.0,
        burst_len: 3.0,
        jitter_ms: 50.0,
        reorder_pct: 5.0,
        duplicate_pct: 5.0,
        seed: 9,
        ..Default::default()
    };
    let mut net = NetSim::new(config);
    let mut schedule: Vec<Vec<(Packet, f64)>> = Vec::new();
    for n in 0..20_000u32 {
        net.send(packet(n), f64::from(n) * 20.0);
        schedule.push(net.deliver(f64::from(n) * 20.0));
    }
    let mut jb = JitterBuffer::new(JitterConfig::new(CPF));
    let mut out = [0u16; CPF];
    let before = alloc_count::ALLOCATIONS.with(|c| c.get());
    for arrivals in &schedule {
        for (p, t) in arrivals {
            jb.push(p, *t);
        }
        jb.pop(&mut out);
    }
    let after = alloc_count::ALLOCATIONS.with(|c| c.get());
    assert_eq!(after - before, 0);
    assert!(jb.stats().played > 15_000);
}
