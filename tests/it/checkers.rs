//! Custom checkers as contest platforms write them: testlib's own standard checkers (wcmp, dcmp,
//! yesno) and a partial-points checker in C++ against the real testlib.h, checkers in Python that
//! follow the same protocol, and checkers that fail in every way. Each is judged on `gavel serve`
//! here and through the cloud pipeline (`cloud::checkers`), with the same results.
//!
//! testlib comes from `infra/scripts/testlib.sh` (the test command runs it), unchanged.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::harness::{Judged, fresh};

pub const CHECKED: &[Judged] = &[
    Judged { name: "testlib's wcmp (tokens) on a Python solution", request: wcmp, check: wcmp_check },
    Judged { name: "testlib's dcmp (doubles within 1e-6)", request: dcmp, check: dcmp_check },
    Judged { name: "testlib's yesno", request: yesno, check: yesno_check },
    Judged { name: "partial points with testlib's quitp", request: partial, check: partial_check },
    Judged { name: "any permutation, checked in Python", request: permutation, check: permutation_check },
    Judged { name: "a Python token comparer on a C++ solution", request: python_tokens, check: python_tokens_check },
    Judged { name: "checkers that fail are internal errors", request: failing, check: failing_check },
    Judged { name: "a checker that does not compile", request: broken, check: broken_check },
];

fn testlib_dir() -> PathBuf {
    let dir = std::env::var_os("GAVEL_TEST_TESTLIB_DIR").unwrap_or_else(|| {
        panic!("GAVEL_TEST_TESTLIB_DIR is not set: run `eval \"$(infra/scripts/testlib.sh)\"` first (the test command does)")
    });
    PathBuf::from(dir)
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// testlib.h as the request's checker file, as a Polygon package ships it.
pub fn testlib_files() -> Value {
    json!([{"name": "testlib.h", "content": read(testlib_dir().join("testlib.h"))}])
}

/// One of testlib's standard checkers, unchanged.
fn standard(checker: &str) -> Value {
    let code = read(testlib_dir().join("checkers").join(format!("{checker}.cpp")));
    json!({"mode": "custom", "language": "cpp", "code": code, "files": testlib_files()})
}

fn python_checker(code: &str) -> Value {
    json!({"mode": "custom", "language": "python", "code": code})
}

fn test(input: &str, expected: &str) -> Value {
    json!({"input": input, "expected_output": expected})
}

fn verdicts(view: &Value) -> Vec<&str> {
    view["tests"].as_array().expect("tests").iter().map(|t| t["verdict"].as_str().expect("a verdict")).collect()
}

fn messages(view: &Value) -> Vec<Option<&str>> {
    view["tests"].as_array().expect("tests").iter().map(|t| t["checker_message"].as_str()).collect()
}

/// Right but oddly spaced, except when a equals b; the third test is hidden.
fn wcmp() -> Value {
    json!({
        "language": "python",
        "code": "a, b = map(int, input().split())\nprint('  ', a + b + (a == b), '\\n\\n')",
        "checker": standard("wcmp"),
        "tests": [test("2 3\n", "5\n"), test("1 1\n", "2\n"), {"input": "4 5\n", "expected_output": "9\n", "hidden": true}],
    })
}

fn wcmp_check(view: &Value) {
    assert_eq!(verdicts(view), ["accepted", "wrong_answer", "accepted"], "{view}");
    assert_eq!(
        messages(view),
        [Some("ok \"5\""), Some("wrong answer 1st words differ - expected: '2', found: '3'"), None]
    );
    assert_eq!(view["verdict"], "wrong_answer");
}

fn dcmp() -> Value {
    json!({
        "language": "python",
        "code": "a, b = map(int, input().split())\nprint(a / b + (1e-3 if b == 7 else 0))",
        "checker": standard("dcmp"),
        "tests": [test("1 3\n", "0.333333333333\n"), test("2 7\n", "0.285714285714\n")],
    })
}

fn dcmp_check(view: &Value) {
    assert_eq!(verdicts(view), ["accepted", "wrong_answer"], "{view}");
    assert_eq!(
        messages(view),
        [Some("ok answer is 0.3333333333"), Some("wrong answer expected 0.2857142857, found 0.2867142857")]
    );
}

/// yes in lower case for an even n, No for an odd one, and an answer that is neither for 0.
fn yesno() -> Value {
    json!({
        "language": "python",
        "code": "n = int(input())\nprint('maybe' if n == 0 else 'yes' if n % 2 == 0 else 'No')",
        "checker": standard("yesno"),
        "tests": [test("4\n", "YES\n"), test("3\n", "YES\n"), test("0\n", "NO\n")],
    })
}

fn yesno_check(view: &Value) {
    // A presentation error (exit code 2) is a wrong answer with the checker's message.
    assert_eq!(verdicts(view), ["accepted", "wrong_answer", "wrong_answer"], "{view}");
    assert_eq!(
        messages(view),
        [
            Some("ok answer is YES"),
            Some("wrong answer expected YES, found NO"),
            Some("wrong output format YES or NO expected, but MAYBE found"),
        ]
    );
}

/// The answer's numbers, of which the solution gets right those below 50: the share right, of
/// the test's points, by quitp.
const PARTIAL_CHECKER: &str = r#"#include "testlib.h"
int main(int argc, char* argv[]) {
    registerTestlibCmd(argc, argv);
    int n = inf.readInt(), right = 0;
    for (int i = 0; i < n; i++) {
        if (ouf.readInt() == ans.readInt()) right++;
    }
    if (right == n) quitf(_ok, "all %d right", n);
    quitp(10.0 * right / n, "%d of %d right", right, n);
}
"#;

fn partial() -> Value {
    let code = "n = int(input())\nxs = list(map(int, input().split()))\nprint(*[x * x if x < 50 else 0 for x in xs])";
    let case = |xs: &[u32]| {
        let input = format!("{}\n{}\n", xs.len(), xs.iter().map(u32::to_string).collect::<Vec<_>>().join(" "));
        let squares: Vec<String> = xs.iter().map(|x| (x * x).to_string()).collect();
        json!({"input": input, "expected_output": squares.join(" ") + "\n", "points": 10, "group": "all"})
    };
    json!({
        "language": "python",
        "code": code,
        "checker": {"mode": "custom", "language": "cpp", "code": PARTIAL_CHECKER, "files": testlib_files()},
        "tests": [case(&[1, 2, 60, 70]), case(&[3, 4]), case(&[80, 90])],
        "groups": [{"name": "all", "points": 100, "scoring": "sum"}],
    })
}

fn partial_check(view: &Value) {
    assert_eq!(verdicts(view), ["partially_accepted", "accepted", "wrong_answer"], "{view}");
    let scores: Vec<_> = view["tests"].as_array().expect("tests").iter().map(|t| t["score"].as_f64()).collect();
    assert_eq!(scores, [Some(5.0), Some(10.0), Some(0.0)]);
    assert_eq!(
        messages(view),
        [Some("points 5.0 2 of 4 right"), Some("ok all 2 right"), Some("points 0.0 0 of 2 right")]
    );
    // The group sums its tests' scores scaled to its points: 100 × 15 / 30.
    assert_eq!((view["score"].as_f64(), view["max_score"].as_f64()), (Some(50.0), Some(100.0)));
    assert_eq!(view["groups"][0]["verdict"], "partially_accepted");
}

/// testlib's protocol by hand: `checker input output answer`, the verdict in the exit code and
/// the message on stderr.
const PERMUTATION_CHECKER: &str = r#"import sys
inp, out, ans = (open(path).read() for path in sys.argv[1:4])
n = int(inp)
got = out.split()
if len(got) != n:
    print(f"wrong answer {len(got)} numbers for n = {n}", file=sys.stderr)
    sys.exit(1)
seen = set()
for token in got:
    if not token.isdigit() or not 1 <= int(token) <= n or int(token) in seen:
        print(f"wrong answer {token} is not a new number from 1 to {n}", file=sys.stderr)
        sys.exit(1)
    seen.add(int(token))
print(f"ok a permutation of {n}; the jury's was {ans.split()[:3]}...", file=sys.stderr)
"#;

fn permutation() -> Value {
    json!({
        "language": "python",
        "code": "n = int(input())\nprint(*[3 if n == 4 and i == 2 else i for i in range(n, 0, -1)])",
        "checker": python_checker(PERMUTATION_CHECKER),
        "tests": [test("5\n", "1 2 3 4 5\n"), test("4\n", "1 2 3 4\n")],
    })
}

fn permutation_check(view: &Value) {
    assert_eq!(verdicts(view), ["accepted", "wrong_answer"], "{view}");
    assert_eq!(
        messages(view),
        [
            Some("ok a permutation of 5; the jury's was ['1', '2', '3']..."),
            Some("wrong answer 3 is not a new number from 1 to 4")
        ]
    );
}

const TOKENS_CHECKER: &str = r#"import sys
out, ans = (open(path, "rb").read().split() for path in sys.argv[2:4])
for i, (got, want) in enumerate(zip(out, ans), 1):
    if got != want:
        print(f"wrong answer token {i}: expected {want.decode()}, found {got.decode()}", file=sys.stderr)
        sys.exit(1)
if len(out) != len(ans):
    print(f"wrong answer {len(out)} tokens, expected {len(ans)}", file=sys.stderr)
    sys.exit(2)
print(f"ok {len(ans)} tokens", file=sys.stderr)
"#;

fn python_tokens() -> Value {
    let code = "#include <iostream>\nint main() { long long a, b; std::cin >> a >> b; \
                std::cout << a << '\\n' << b << \"   \" << (a + b == 7 ? 0 : a + b) << '\\n'; }";
    json!({
        "language": "cpp",
        "code": code,
        "checker": python_checker(TOKENS_CHECKER),
        "tests": [test("2 3\n", "2 3 5\n"), test("3 4\n", "3 4 7\n"), test("1 1\n", "1 1 2 2\n")],
    })
}

fn python_tokens_check(view: &Value) {
    assert_eq!(verdicts(view), ["accepted", "wrong_answer", "wrong_answer"], "{view}");
    assert_eq!(
        messages(view),
        [
            Some("ok 3 tokens"),
            Some("wrong answer token 3: expected 7, found 0"),
            Some("wrong answer 3 tokens, expected 4")
        ]
    );
}

/// A checker that fails as told by the test's input; none of it is the contestant's fault.
const FAILING_CHECKER: &str = r#"import os, signal, sys
how = open(sys.argv[1]).read().strip()
if how == "fail":
    print("FAIL the answer file is not what the jury meant", file=sys.stderr)
    sys.exit(3)
if how == "crash":
    os.kill(os.getpid(), signal.SIGSEGV)
if how == "loop":
    while True:
        pass
if how == "points":
    print("points 20 more than the test is worth", file=sys.stderr)
    sys.exit(7)
if how == "flood":
    sys.stderr.write("x" * (1 << 20))
    sys.exit(0)
if how == "undefined":
    sys.exit(5)
print("ok", file=sys.stderr)
"#;

fn failing() -> Value {
    let cases = ["fail", "crash", "loop", "points", "flood", "undefined", "fine"];
    let tests: Vec<Value> =
        cases.iter().map(|how| json!({"input": format!("{how}\n"), "expected_output": "", "points": 10})).collect();
    json!({"language": "python", "code": "print(input())", "checker": python_checker(FAILING_CHECKER), "tests": tests})
}

fn failing_check(view: &Value) {
    let expected = ["internal_error"; 6].into_iter().chain(["accepted"]).collect::<Vec<_>>();
    assert_eq!(verdicts(view), expected, "{view}");
    let messages = messages(view);
    let says = |t: usize, words: &[&str]| {
        let message = messages[t].unwrap_or_default();
        assert!(words.iter().all(|w| message.contains(w)), "test {t}: {message:?} should say {words:?}");
    };
    says(0, &["the checker failed (exit code 3)", "not what the jury meant"]);
    says(1, &["killed by signal 11"]);
    // CPU time, or wall time where a loaded host gives the checker less than a core.
    says(2, &["the checker was stopped at its", "time limit"]);
    says(3, &["gave 20 points to a test worth 10"]);
    says(4, &["stopped at its output limit"]);
    says(5, &["exited with 5, which testlib does not define"]);
    assert_eq!(view["score"].as_f64(), Some(10.0));
}

fn broken() -> Value {
    json!({
        "language": "python",
        "code": "print(1)",
        "checker": {"mode": "custom", "language": "cpp", "code": "#include \"testlib.h\"\nint main( {", "files": testlib_files()},
        "tests": [test("", "1\n")],
    })
}

fn broken_check(view: &Value) {
    assert_eq!(verdicts(view), ["internal_error"], "{view}");
    let message = messages(view)[0].unwrap_or_default();
    assert!(
        message.starts_with("the checker did not compile (exit code 1): ") && message.contains("main.cpp"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn custom_checkers_on_gavel_serve() {
    let (_dir, server) = fresh();
    server.judge_all(CHECKED).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_checkers_are_refused_naming_the_field() {
    let (_dir, server) = fresh();
    let with = |checker: Value| json!({"language": "cpp", "code": "int main() {}", "checker": checker});
    let cases = [
        (json!({"mode": "custom", "language": "java", "code": "class Main {}"}), "checker.language"),
        (json!({"mode": "custom", "language": "klingon", "code": "x"}), "checker.language"),
        (json!({"mode": "custom", "language": "python", "code": "  "}), "checker.code"),
        (
            json!({"mode": "custom", "language": "cpp", "code": "x", "files": [{"name": "../t.h", "content": ""}]}),
            "checker.files[0].name",
        ),
    ];
    for (checker, field) in cases {
        let (status, body) = server.post_json("/execute", &with(checker.clone())).await;
        assert_eq!(status, 422, "{checker}: {body}");
        assert_eq!(body["error"]["field"], field, "{checker}: {body}");
    }
    let stray = json!({"mode": "custom", "language": "python", "code": "x", "abs": 1});
    let (status, body) = server.post_json("/execute", &with(stray)).await;
    assert_eq!(status, 422, "an unknown checker field is refused: {body}");
}
