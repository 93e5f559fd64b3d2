//! Items and results as stored, without DynamoDB (the contract tests run on moto).

use chrono::{SubsecRound, TimeDelta};
use gavel_core::isolation::{Isolation, IsolationLevel};
use gavel_core::job::{CompileResult, Summary, TestResult};
use gavel_core::verdict::Verdict;

use super::*;

fn test_result(output: &str, input: &str) -> TestResult {
    TestResult {
        name: Some("t".into()),
        verdict: Verdict::Accepted,
        time_ms: 1,
        wall_time_ms: 2,
        memory_kb: 3,
        exit_code: Some(0),
        signal: None,
        stdout: output.to_owned(),
        stdout_encoding: Encoding::Utf8,
        stderr: String::new(),
        stderr_encoding: Encoding::Utf8,
        truncated: false,
        limit: None,
        hidden: false,
        input: Some(input.to_owned()),
        expected_output: Some(output.to_owned()),

        encoding: Encoding::Utf8,
        output_order: Vec::new(),
        checker_message: None,
        score: 0.0,
        max_score: 1.0,
    }
}

fn result(tests: Vec<TestResult>) -> JobResult {
    let total = tests.len();
    JobResult {
        verdict: Verdict::Accepted,
        compile: Some(CompileResult {
            output: "warning: x".repeat(10_000),
            output_encoding: Encoding::Utf8,
            exit_code: Some(0),
            time_ms: 5,
            ..CompileResult::default()
        }),
        tests,
        summary: Summary { passed: total, total },
        isolation: Isolation::boundary(IsolationLevel::Container, Vec::new()),
        score: 0.0,
        max_score: 0.0,
        groups: Vec::new(),
    }
}

#[test]
fn records_map_to_items_and_back() {
    let now = Utc::now().trunc_subsecs(3);
    let mut record = JobRecord::pending(JobId::new(), "python", now);
    record.status = JobStatus::Completed;
    record.started_at = Some(now + TimeDelta::milliseconds(1));
    record.finished_at = Some(now + TimeDelta::milliseconds(2));
    record.result = Some(result(vec![test_result("3\n", "1 2\n")]));
    let item = to_item(&record).expect("item");
    assert_eq!(from_item(&item), Ok(record.clone()));
    let ttl = (record.expires_at.timestamp_millis() + 999).div_euclid(1000);
    assert_eq!(item.get(attr::EXPIRES_AT), Some(&n(ttl)));
    assert_eq!(item.get(attr::LIST_TAG), None, "an unlisted job stays out of the listing index");

    record.listing = Some(Listing { tag: "judge0".into(), items: 7 });
    let item = to_item(&record).expect("item");
    assert_eq!(item.get(attr::LIST_TAG), Some(&s("judge0")));
    assert_eq!(from_item(&item), Ok(record));
}

#[test]
fn the_ttl_attribute_rounds_up_to_the_second() {
    let at = DateTime::from_timestamp_millis(1_700_000_000_001).expect("time");
    let record = JobRecord { expires_at: at, ..JobRecord::pending(JobId::new(), "c", at) };
    let item = to_item(&record).expect("item");
    assert_eq!(item.get(attr::EXPIRES_AT), Some(&n(1_700_000_001)));
    assert_eq!(item.get(attr::EXPIRES_AT_MS), Some(&n(1_700_000_000_001)));
}

#[test]
fn corrupt_items_are_reported() {
    let record = JobRecord::pending(JobId::new(), "python", Utc::now());
    let mut item = to_item(&record).expect("item");
    item.insert(attr::STATUS.into(), s("lost"));
    assert!(from_item(&item).is_err_and(|err| err.contains("unknown status")));
    item.remove(attr::CREATED_AT);
    item.insert(attr::STATUS.into(), s("pending"));
    assert!(from_item(&item).is_err_and(|err| err.contains("created_at")));
}

#[test]
fn small_results_are_stored_as_they_are() {
    let small = result(vec![test_result("3\n", "1 2\n")]);
    assert_eq!(result_json(&small), Ok(serde_json::to_string(&small).expect("json")));
}

#[test]
fn large_results_are_cut_to_fit_keeping_verdicts() {
    // 100 tests with 8 KiB of (multi-byte) output each, and as much expected: ~1.6 MB of JSON.
    let big = result((0..100).map(|i| test_result(&"é".repeat(4096), &format!("{i}\n"))).collect());
    assert!(encode(&big).expect("json").len() > 1_600_000);
    let json = result_json(&big).expect("fits");
    assert!(json.len() <= RESULT_BUDGET_BYTES, "{}", json.len());
    let stored: JobResult = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!((stored.verdict, stored.summary, stored.tests.len()), (big.verdict, big.summary, 100));
    for (stored, original) in stored.tests.iter().zip(&big.tests) {
        assert!(stored.truncated && stored.stdout.len() < original.stdout.len());
        assert!(original.stdout.starts_with(&stored.stdout));
        assert_eq!(stored.input, original.input, "short texts are kept");
        assert!(stored.expected_output.as_deref().is_some_and(|e| e.ends_with(CUT_MARK)));
        assert_eq!((stored.verdict, stored.time_ms), (original.verdict, original.time_ms));
    }
    assert!(stored.compile.expect("compile").output.ends_with(CUT_MARK));
}

#[test]
fn results_that_cannot_fit_are_refused() {
    let many = result((0..50).map(|_| test_result("x", "y")).collect());
    let err = fit_result(&many, 1_000).expect_err("structure alone is too large");
    assert!(err.contains("too large"), "{err}");
}

#[test]
fn cuts_respect_character_boundaries() {
    let mut text = "aé".to_owned();
    assert!(cut(&mut text, 2));
    assert_eq!(text, "a");
    let mut marked = "0123456789".to_owned();
    assert!(cut_marked(&mut marked, 4));
    assert_eq!(marked, format!("0123{CUT_MARK}"));
    assert!(!cut_marked(&mut marked, 4), "already cut to that cap");
    assert!(cut_marked(&mut marked, 2));
    assert_eq!(marked, format!("01{CUT_MARK}"));
    assert_eq!(truncate_error("e".repeat(100_000)).len(), ERROR_BUDGET_BYTES);
}
