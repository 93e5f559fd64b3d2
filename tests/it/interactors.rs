//! Interactive problems as contest platforms write them: an A+B interactor and a "guess the
//! number" interactor with the real testlib.h in C++, the same game's interactor in Python, and
//! solutions that play fair or cheat (read beyond their turn, flood, hang, quit early). Each is
//! judged on `gavel serve` here, through the cloud pipeline (`cloud::interactors`) and in the
//! Docker launcher's containers, with the same results.

use serde_json::{Value, json};

use crate::checkers::testlib_files;
use crate::harness::{Judged, fresh};

pub const INTERACTIVE: &[Judged] = &[
    Judged { name: "A+B with testlib's interaction", request: a_plus_b, check: a_plus_b_check },
    Judged { name: "guess the number, testlib, binary search", request: || guess_testlib(BINARY_PY), check: accepted },
    Judged { name: "guess the number, testlib, a flood", request: || guess_testlib(FLOOD_PY), check: flooded },
    Judged { name: "guess the number, testlib, C++ that quits", request: quits_early, check: quit_early },
    Judged { name: "guess the number, Python, C++ binary search", request: binary_cpp, check: accepted },
    Judged {
        name: "guess the number, Python, reads ahead",
        request: || guess_python(READS_AHEAD_PY),
        check: timed_out,
    },
    Judged { name: "guess the number, Python, hangs", request: || guess_python(HANGS_PY), check: timed_out },
    Judged { name: "guess the number, Python, a flood", request: || guess_python(FLOOD_PY), check: flooded },
    Judged { name: "guess the number, Python, a wrong guess", request: || guess_python(WRONG_PY), check: wrong_guess },
    Judged { name: "an interactor's output judged by a checker", request: scored, check: scored_check },
];

fn verdicts(view: &Value) -> Vec<&str> {
    view["tests"].as_array().expect("tests").iter().map(|t| t["verdict"].as_str().expect("a verdict")).collect()
}

fn message(view: &Value, t: usize) -> &str {
    view["tests"][t]["checker_message"].as_str().unwrap_or_default()
}

/// Sends `n` pairs, one at a time, and reads each sum back; the sums go to its output file.
const A_PLUS_B_INTERACTOR: &str = r#"#include "testlib.h"
#include <iostream>
int main(int argc, char* argv[]) {
    registerInteraction(argc, argv);
    int n = inf.readInt();
    std::cout << n << std::endl;
    for (int i = 0; i < n; i++) {
        long long a = inf.readLong(), b = inf.readLong();
        std::cout << a << ' ' << b << std::endl;
        long long got = ouf.readLong();
        if (got != a + b) quitf(_wa, "%lld + %lld is not %lld", a, b, got);
        tout << got << std::endl;
    }
    quitf(_ok, "%d sums", n);
}
"#;

fn a_plus_b() -> Value {
    json!({
        "language": "python",
        "code": "for _ in range(int(input())):\n    a, b = map(int, input().split())\n    print(a + b - (a == b), flush=True)",
        "interactor": {"language": "cpp", "code": A_PLUS_B_INTERACTOR, "files": testlib_files()},
        "tests": [
            {"input": "3\n1 2\n30 40\n-5 5\n", "expected_output": "3\n70\n0\n"},
            {"input": "2\n1 2\n7 7\n", "expected_output": "3\n14\n"},
        ],
    })
}

fn a_plus_b_check(view: &Value) {
    assert_eq!(verdicts(view), ["accepted", "wrong_answer"], "{view}");
    assert_eq!(view["tests"][0]["stdout"], "3\n70\n0\n", "the output is the interactor's file: {view}");
    assert_eq!(message(view, 0), "ok 3 sums");
    assert_eq!(message(view, 1), "wrong answer 7 + 7 is not 13");
}

/// The secret is the input; `? x` is answered `>`, `<` or `=` (the secret against x), at most
/// seven times; `! x` is the guess. The output file holds the queries asked.
const GUESS_INTERACTOR_CPP: &str = r#"#include "testlib.h"
#include <iostream>
int main(int argc, char* argv[]) {
    registerInteraction(argc, argv);
    int secret = inf.readInt(), queries = 0;
    while (true) {
        std::string kind = ouf.readToken();
        int x = ouf.readInt();
        if (kind == "!") {
            if (x != secret) quitf(_wa, "%d is not the number", x);
            tout << queries << std::endl;
            quitf(_ok, "guessed in %d queries", queries);
        }
        if (++queries > 7) quitf(_wa, "more than 7 queries");
        std::cout << (secret > x ? ">" : secret < x ? "<" : "=") << std::endl;
    }
}
"#;

/// The same game by hand: testlib's argv and exit codes, the verdict's words on stderr.
const GUESS_INTERACTOR_PY: &str = r#"import sys
secret, limit = map(int, open(sys.argv[1]).read().split())
queries = 0
def done(code, words):
    print(words, file=sys.stderr)
    sys.exit(code)
while True:
    line = sys.stdin.readline()
    if not line:
        done(2, "wrong answer the solution stopped before guessing")
    kind, x = line.split()
    if kind == "!":
        if int(x) != secret:
            done(1, f"wrong answer {x} is not the number")
        with open(sys.argv[2], "w") as out:
            print(queries, file=out)
        done(0, f"ok guessed in {queries} queries")
    queries += 1
    if queries > limit:
        done(1, f"wrong answer more than {limit} queries")
    print(">" if secret > int(x) else "<" if secret < int(x) else "=", flush=True)
"#;

const BINARY_PY: &str = r#"lo, hi = 1, 100
while True:
    mid = (lo + hi) // 2
    print("?", mid, flush=True)
    r = input()
    if r == "=":
        print("!", mid, flush=True)
        break
    lo, hi = (mid + 1, hi) if r == ">" else (lo, mid - 1)
"#;
/// Waits for an answer before it has asked anything.
const READS_AHEAD_PY: &str = "r = input()\nprint('!', 1, flush=True)";
const HANGS_PY: &str = "import time\ntime.sleep(60)";
/// Asks the same question without ever reading an answer.
const FLOOD_PY: &str = "while True:\n    print('? 1', flush=True)";
const WRONG_PY: &str = "print('! 50', flush=True)";

fn guess(code: &str, language: &str, interactor: Value, secrets: &[&str]) -> Value {
    let tests: Vec<Value> = secrets.iter().map(|s| json!({"input": format!("{s}\n")})).collect();
    json!({
        "language": language, "code": code, "interactor": interactor, "tests": tests,
        "limits": {"time_ms": 1000, "wall_time_ms": 2000},
    })
}

fn guess_testlib(code: &str) -> Value {
    let interactor = json!({"language": "cpp", "code": GUESS_INTERACTOR_CPP, "files": testlib_files()});
    guess(code, "python", interactor, &["37", "100"])
}

fn guess_python(code: &str) -> Value {
    guess(code, "python", json!({"language": "python", "code": GUESS_INTERACTOR_PY}), &["37 7", "100 7"])
}

fn binary_cpp() -> Value {
    let code = "#include <iostream>\n#include <string>\nint main() { int lo = 1, hi = 100; while (true) { \
                int mid = (lo + hi) / 2; std::cout << \"? \" << mid << std::endl; std::string r; std::cin >> r; \
                if (r == \"=\") { std::cout << \"! \" << mid << std::endl; return 0; } \
                if (r == \">\") lo = mid + 1; else hi = mid - 1; } }";
    guess(code, "cpp", json!({"language": "python", "code": GUESS_INTERACTOR_PY}), &["37 7", "100 7"])
}

fn quits_early() -> Value {
    let interactor = json!({"language": "cpp", "code": GUESS_INTERACTOR_CPP, "files": testlib_files()});
    guess("int main() { return 0; }", "cpp", interactor, &["37"])
}

fn accepted(view: &Value) {
    assert_eq!(verdicts(view), ["accepted", "accepted"], "{view}");
    assert!(message(view, 0).starts_with("ok guessed in "), "{view}");
    let queries: u32 = view["tests"][1]["stdout"].as_str().unwrap_or_default().trim().parse().expect("queries");
    assert!((1..=7).contains(&queries), "{view}");
}

/// Its own time limit, whatever the interactor made of the silence; both are gone by then.
fn timed_out(view: &Value) {
    assert_eq!(verdicts(view), ["time_limit_exceeded", "time_limit_exceeded"], "{view}");
    let wall = view["tests"][0]["wall_time_ms"].as_u64().unwrap_or(0);
    assert!((1900..6000).contains(&wall), "stopped at its wall limit: {view}");
}

/// The interactor stops reading after seven queries and rejects it; the solution then dies
/// writing into the closed pipe, which is not what it is judged by.
fn flooded(view: &Value) {
    assert_eq!(verdicts(view), ["wrong_answer", "wrong_answer"], "{view}");
    assert!(message(view, 0).contains("more than 7 queries"), "{view}");
}

fn quit_early(view: &Value) {
    assert_eq!(verdicts(view), ["wrong_answer"], "{view}");
    assert!(message(view, 0).contains("Unexpected end of file"), "{view}");
}

fn wrong_guess(view: &Value) {
    assert_eq!(verdicts(view), ["wrong_answer", "wrong_answer"], "{view}");
    assert_eq!(message(view, 0), "wrong answer 50 is not the number");
}

/// Up to 60 queries allowed; the checker reads the interactor's output file (the queries asked):
/// 7 or fewer for all the points, 20 or fewer for half.
const QUERIES_CHECKER: &str = r#"import sys
queries = int(open(sys.argv[2]).read())
if queries <= 7:
    print(f"ok {queries} queries", file=sys.stderr)
    sys.exit(0)
print(f"points {5 if queries <= 20 else 0} {queries} queries", file=sys.stderr)
sys.exit(7)
"#;

fn scored() -> Value {
    let linear = "x = 1\nwhile True:\n    print('?', x, flush=True)\n    if input() == '=':\n        print('!', x, flush=True)\n        break\n    x += 1";
    let test = |secret: u32| json!({"input": format!("{secret} 60\n"), "points": 10});
    json!({
        "language": "python", "code": linear,
        "interactor": {"language": "python", "code": GUESS_INTERACTOR_PY},
        "checker": {"mode": "custom", "language": "python", "code": QUERIES_CHECKER},
        "tests": [test(3), test(15), test(50)],
    })
}

fn scored_check(view: &Value) {
    assert_eq!(verdicts(view), ["accepted", "partially_accepted", "wrong_answer"], "{view}");
    assert_eq!((message(view, 0), message(view, 1)), ("ok 3 queries", "points 5 15 queries"));
    assert_eq!((view["score"].as_f64(), view["max_score"].as_f64()), (Some(15.0), Some(30.0)));
}

#[tokio::test(flavor = "multi_thread")]
async fn interactive_problems_on_gavel_serve() {
    let (_dir, server) = fresh();
    server.judge_all(INTERACTIVE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_interactor_is_refused_naming_the_field() {
    let (_dir, server) = fresh();
    let body = json!({"language": "cpp", "code": "int main() {}", "interactor": {"language": "ruby", "code": "x"}});
    let (status, answer) = server.post_json("/execute", &body).await;
    assert_eq!((status, &answer["error"]["field"]), (422, &json!("interactor.language")), "{answer}");
}
