//! Contest problems as a platform sends them: programs of several files with compile options and
//! arguments, and subtasks with points and dependencies. Each is judged on `gavel serve` here
//! and through the cloud pipeline (`cloud::problems`), with the same results.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::fresh;

/// One problem: the request, and what its result must show.
pub struct Problem {
    pub name: &'static str,
    pub request: fn() -> Value,
    pub check: fn(&Value),
    /// Which tests the runner's report shows as skipped (never run).
    pub runner_skips: &'static [bool],
}

impl Problem {
    /// Checks the runner's report: it ran exactly the tests it should have.
    pub fn check_report(&self, report: &[u8]) {
        let report: Value = serde_json::from_slice(report).expect("a JSON report");
        let steps = report["tests"].as_array().expect("steps");
        let skipped: Vec<bool> = steps.iter().map(|step| step["skipped"] == true).collect();
        assert_eq!(skipped, self.runner_skips, "{}: {report}", self.name);
    }
}

pub const PROBLEMS: &[Problem] = &[
    Problem {
        name: "two-file C++ with a header, options and arguments",
        request: two_files,
        check: two_files_check,
        runner_skips: &[false],
    },
    Problem {
        name: "compile options that put the program elsewhere",
        request: || json!({"language": "c", "code": "int main(void) { return 0; }", "compile_options": "-o elsewhere"}),
        check: moved_binary_check,
        runner_skips: &[false],
    },
    Problem {
        name: "five groups with dependencies, partly solved",
        request: subtasks,
        check: subtasks_check,
        // What the runner saw fail on its own decides: only the slow test after a runtime error.
        runner_skips: &[false, false, false, false, false, false, false, false, false, true],
    },
];

fn verdicts(view: &Value) -> Vec<&str> {
    view["tests"].as_array().expect("tests").iter().map(|t| t["verdict"].as_str().expect("a verdict")).collect()
}

/// `lib.h` holds the function; `-DONLINE_JUDGE` picks the judge's branch; argv reaches `main`;
/// a quoted option keeps its space.
fn two_files() -> Value {
    let code = r#"#include <iostream>
#include "lib.h"
int main(int argc, char** argv) {
    long long a, b;
    std::cin >> a >> b;
#ifdef ONLINE_JUDGE
    std::cout << add(a, b) << ' ' << GREETING << ' ' << argc - 1 << ':' << (argc > 1 ? argv[1] : "") << '\n';
#else
    std::cout << "not judged\n";
#endif
}
"#;
    json!({
        "language": "cpp",
        "code": code,
        "files": [{"name": "lib.h", "content": "#pragma once\ninline long long add(long long a, long long b) { return a + b; }\n"}],
        "compile_options": "-DONLINE_JUDGE '-DGREETING=\"hello judge\"'",
        "args": ["first arg", "second"],
        "tests": [{"input": "2 3\n", "expected_output": "5 hello judge 2:first arg\n"}],
    })
}

fn two_files_check(view: &Value) {
    assert_eq!(view["verdict"], "accepted", "{view}");
    assert_eq!(view["tests"][0]["stdout"], "5 hello judge 2:first arg\n");
    assert_eq!((view["score"].as_f64(), view["max_score"].as_f64()), (Some(1.0), Some(1.0)));
}

/// The compiler obeyed the options, so nothing is where the run looks: the program's failure,
/// not the platform's.
fn moved_binary_check(view: &Value) {
    assert_eq!((&view["compile"]["exit_code"], &view["verdict"]), (&json!(0), &json!("runtime_error")), "{view}");
    assert_eq!(view["tests"][0]["exit_code"], 127);
    let stderr = view["tests"][0]["stderr"].as_str().expect("stderr");
    assert!(stderr.contains("cannot execute ./main"), "{stderr}");
}

/// The sum 1 + … + n, by a solution that is right only below 100 and fails from 1000 on:
/// samples (0 points); `small` (30, all or nothing): right; `medium` (30, summed): two of three
/// right; `large` (40, its worst test, after both): skipped; `huge` (10, all or nothing): its
/// first test fails, so the slow second one is never run.
fn subtasks() -> Value {
    let code = "import time\nn = int(input())\nif n > 10**6: time.sleep(30)\nif n >= 1000: raise SystemExit(3)\n\
                print(n * (n + 1) // 2 if n < 100 else 0)";
    let test = |n: u64, group: &str| json!({"input": format!("{n}\n"), "expected_output": format!("{}\n", n * (n + 1) / 2), "group": group});
    json!({
        "language": "python",
        "code": code,
        "limits": {"time_ms": 1000, "wall_time_ms": 2000},
        "tests": [
            test(3, "samples"),
            test(10, "small"), test(20, "small"),
            test(50, "medium"), test(500, "medium"), test(60, "medium"),
            test(7, "large"), test(8, "large"),
            test(1000, "huge"), test(5_000_000, "huge"),
        ],
        "groups": [
            {"name": "samples", "points": 0},
            {"name": "small", "points": 30, "depends_on": ["samples"]},
            {"name": "medium", "points": 30, "scoring": "sum", "depends_on": ["samples"]},
            {"name": "large", "points": 40, "scoring": "min", "depends_on": ["small", "medium"]},
            {"name": "huge", "points": 10, "scoring": "all_or_nothing", "depends_on": ["samples"]},
        ],
    })
}

fn subtasks_check(view: &Value) {
    let expected = [
        "accepted",
        "accepted",
        "accepted",
        "accepted",
        "wrong_answer",
        "accepted",
        "skipped",
        "skipped",
        "runtime_error",
        "skipped",
    ];
    assert_eq!(verdicts(view), expected, "{view}");
    let groups: Vec<(&str, f64, f64, &str)> = view["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            let number = |key: &str| g[key].as_f64().unwrap_or_else(|| panic!("{key} in {g}"));
            (
                g["name"].as_str().expect("name"),
                number("score"),
                number("max_score"),
                g["verdict"].as_str().expect("verdict"),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("samples", 0.0, 0.0, "accepted"),
            ("small", 30.0, 30.0, "accepted"),
            ("medium", 20.0, 30.0, "wrong_answer"),
            ("large", 0.0, 40.0, "skipped"),
            ("huge", 0.0, 10.0, "runtime_error"),
        ]
    );
    assert_eq!((view["score"].as_f64(), view["max_score"].as_f64()), (Some(50.0), Some(110.0)));
    assert_eq!(view["verdict"], "wrong_answer");
    let medium: Vec<_> = view["tests"].as_array().expect("tests")[3..6].iter().map(|t| t["score"].as_f64()).collect();
    assert_eq!(medium, [Some(1.0), Some(0.0), Some(1.0)]);
}

#[tokio::test(flavor = "multi_thread")]
async fn contest_problems_on_gavel_serve() {
    let (dir, server) = fresh();
    for problem in PROBLEMS {
        let job_id = server.submit((problem.request)()).await;
        let view = server.wait(&job_id, Duration::from_secs(120)).await;
        assert_eq!(view["status"], "completed", "{}: {view}", problem.name);
        (problem.check)(&view);
        problem.check_report(
            &std::fs::read(dir.path().join(format!("blobs/jobs/{job_id}/report.json"))).expect("the report"),
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_problems_are_refused_naming_the_field() {
    let (_dir, server) = fresh();
    let refused = |extra: Value| {
        let mut body = json!({"language": "cpp", "code": "int main() {}"});
        body.as_object_mut().expect("an object").extend(extra.as_object().expect("an object").clone());
        body
    };
    let cases = [
        (json!({"files": [{"name": "../escape.h", "content": ""}]}), "files[0].name"),
        (json!({"files": [{"name": "main.cpp", "content": ""}]}), "files[0].name"),
        (json!({"files": [{"name": "a.bin", "content": "***", "encoding": "base64"}]}), "files[0].content"),
        (json!({"compile_options": "-DX='unclosed"}), "compile_options"),
        (json!({"tests": [{"input": "", "group": "nowhere"}]}), "tests[0].group"),
        (
            json!({"tests": [{"input": "", "group": "a"}], "groups": [{"name": "a", "depends_on": ["b"]}]}),
            "groups[0].depends_on[0]",
        ),
        (json!({"tests": [{"input": "", "points": -2}]}), "tests[0].points"),
    ];
    for (extra, field) in cases {
        let (status, body) = server.post_json("/execute", &refused(extra.clone())).await;
        assert_eq!(status, 422, "{extra}: {body}");
        assert_eq!(body["error"]["field"], field, "{extra}: {body}");
    }
    let python = json!({"language": "python", "code": "print(1)", "compile_options": "-O2"});
    let (status, body) = server.post_json("/execute", &python).await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (422, Some("compile_options: python has no compile step to give options to"))
    );
}

/// A program's memory figure is its own: the same under every limit (within 10 %), where the
/// cgroup's peak counted the page cache of what the run read and so grew with the limit.
#[tokio::test(flavor = "multi_thread")]
async fn the_same_program_reports_the_same_memory_whatever_its_limit() {
    let (_dir, server) = fresh();
    let programs = [
        ("cpp", "#include <iostream>\nint main() { long long a, b; std::cin >> a >> b; std::cout << a + b << '\\n'; }"),
        ("python", "a, b = map(int, input().split())\nprint(a + b)"),
    ];
    for (language, code) in programs {
        let mut figures = Vec::new();
        for memory_mb in [16, 24, 128, 512] {
            let view = server
                .judge(json!({
                    "language": language, "code": code, "limits": {"memory_mb": memory_mb},
                    "tests": [{"input": "2 3\n", "expected_output": "5\n"}],
                }))
                .await;
            assert_eq!(view["verdict"], "accepted", "{language} under {memory_mb} MB: {view}");
            figures.push(view["tests"][0]["memory_kb"].as_u64().expect("memory_kb"));
        }
        let (least, most) = (figures.iter().min().copied().unwrap_or(0), figures.iter().max().copied().unwrap_or(0));
        assert!(least > 0 && most * 10 <= least * 11, "{language}: {figures:?} KB under 16, 24, 128, 512 MB");
    }
}
