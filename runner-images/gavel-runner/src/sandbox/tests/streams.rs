//! How a run's two output streams are captured: apart (the default), merged, or apart with the
//! order they arrived in.

use gavel_core::runner::{Segment, Stream, interleave};

use super::*;

/// Writes stdout, stderr, stdout, each after the last was surely read, so the order is certain.
const THREE_WRITES: &str = "printf a; sleep 0.2; printf bb >&2; sleep 0.2; printf ccc";

#[test]
fn streams_are_apart_and_unordered_by_default() {
    let mut sb = sandbox();
    let out = run_ok(&mut sb, &sh(THREE_WRITES));
    assert_eq!((text(&out.stdout), text(&out.stderr)), ("accc".into(), "bb".into()));
    assert!(out.order.is_empty(), "{:?}", out.order);
}

#[test]
fn merged_stderr_arrives_in_stdout() {
    let mut sb = sandbox();
    let out = run_ok(&mut sb, &RunCommand { merge_stderr: true, ..sh(THREE_WRITES) });
    assert_eq!((text(&out.stdout), text(&out.stderr)), ("abbccc".into(), String::new()));
}

#[test]
fn the_arrival_order_is_recorded_when_asked() {
    let mut sb = sandbox();
    let out = run_ok(&mut sb, &RunCommand { keep_order: true, ..sh(THREE_WRITES) });
    let segment = |stream, len| Segment { stream, len };
    assert_eq!(out.order, vec![segment(Stream::Stdout, 1), segment(Stream::Stderr, 2), segment(Stream::Stdout, 3)]);
    assert_eq!(interleave(&out.stdout, &out.stderr, &out.order), b"abbccc");
}

#[test]
fn a_flood_of_alternating_writes_keeps_a_bounded_true_prefix() {
    let mut sb = sandbox();
    let flood = "i=0; while [ $i -lt 6000 ]; do printf o; printf e >&2; i=$((i+1)); done";
    let out = run_ok(&mut sb, &RunCommand { keep_order: true, ..sh(flood) });
    assert!(out.order.len() <= gavel_core::runner::MAX_SEGMENTS, "{} segments", out.order.len());
    let merged = interleave(&out.stdout, &out.stderr, &out.order);
    assert_eq!(merged.len(), 12_000);
    assert_eq!(merged.iter().filter(|b| **b == b'o').count(), 6000);
}
