//! The `gavel` CLI as a user runs it: embedded and against a server.

use std::process::Command;

use crate::harness::{binary, fresh};

fn gavel(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(binary("gavel")).args(args).env("RUST_LOG", "warn").output().expect("run gavel");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write a file");
    path.to_string_lossy().into_owned()
}

#[test]
fn run_embedded_plain_and_judged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hello = write(dir.path(), "hello.py", "print('hello from gavel run')");
    let (code, stdout, stderr) = gavel(&["run", &hello]);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.contains("hello from gavel run") && stdout.contains("verdict: accepted"), "{stdout}");

    let tests = dir.path().join("tests");
    std::fs::create_dir(&tests).expect("mkdir");
    write(&tests, "1.in", "1 2\n");
    write(&tests, "1.out", "3\n");
    write(&tests, "2.in", "2 2\n");
    write(&tests, "2.out", "5\n");
    let sum =
        write(dir.path(), "sum.cpp", "#include <iostream>\nint main(){int a,b;std::cin>>a>>b;std::cout<<a+b<<'\\n';}");
    let (code, stdout, stderr) = gavel(&["run", &sum, "--tests", &tests.to_string_lossy()]);
    assert_eq!(code, 1, "a wrong answer exits non-zero; stdout: {stdout}\nstderr: {stderr}");
    let rows: Vec<&str> = stdout.lines().filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit())).collect();
    assert_eq!(rows.len(), 2, "one table row per test: {stdout}");
    assert!(rows[0].contains("accepted") && rows[1].contains("wrong_answer"), "{stdout}");
    assert!(stdout.contains("verdict: wrong_answer  (1 of 2 passed)"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn run_against_a_server() {
    let (_data, server) = fresh();
    let dir = tempfile::tempdir().expect("tempdir");
    let echo = write(dir.path(), "echo.js", "process.stdout.write(require('fs').readFileSync(0))");
    let stdin = write(dir.path(), "input.txt", "through the server\n");
    let base = server.base.clone();
    let (code, stdout, stderr) =
        tokio::task::spawn_blocking(move || gavel(&["run", &echo, "--stdin", &stdin, "--server", &base, "--json"]))
            .await
            .expect("join");
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    let view: serde_json::Value = serde_json::from_str(&stdout).expect("--json prints the result");
    assert_eq!(view["tests"][0]["stdout"], "through the server\n");
}

#[test]
fn unknown_extension_and_missing_file_are_usage_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let odd = write(dir.path(), "prog.xyz", "x");
    let (code, _, stderr) = gavel(&["run", &odd]);
    assert_eq!(code, 2);
    assert!(stderr.contains("--lang"), "{stderr}");
    let (code, _, stderr) = gavel(&["run", "/nonexistent/file.py"]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn languages_lists_the_catalogue() {
    let (code, stdout, stderr) = gavel(&["languages"]);
    assert_eq!(code, 0, "{stderr}");
    for id in gavel_core::language::ids() {
        let row = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("no row for {id}: {stdout}"));
        assert!(row.contains("yes"), "{id} is installed on this machine: {row}");
    }
}

/// `gavel bench`, small: every figure is printed against its bare baseline and its target (the
/// figures themselves are the benchmark's to report, not a test's to time).
#[test]
fn bench_reports_each_figure_against_its_baseline() {
    let (code, stdout, stderr) =
        gavel(&["bench", "--runs", "3", "--latency-jobs", "1", "--throughput-jobs", "4", "--rounds", "1"]);
    assert_eq!(code, 0, "stdout: {stdout}\nstderr: {stderr}");
    for (figure, baseline) in [
        ("C (`true`)", "bare "),
        ("Python (`python3 -c pass`)", "bare "),
        ("job ", "bare runs' sum"),
        ("gavel ", "% of bare capacity"),
    ] {
        let line = stdout.lines().find(|l| l.starts_with(figure)).unwrap_or_else(|| panic!("no {figure}: {stdout}"));
        assert!(line.contains(baseline) && line.contains("target"), "{line}");
        assert!(line.contains(": met") || line.contains(": MISSED"), "{line}");
    }
    assert!(stdout.contains("isolation full"), "the full sandbox ran: {stdout}");
}
