//! Every catalogue language, end to end through `gavel serve`: real toolchains in the real sandbox.
//! The programs and checks are shared with the Docker launcher's tests (`docker.rs`).

use serde_json::{Value, json};

use crate::harness::{Server, fresh};

/// One language's programs for the matrix.
pub struct Programs {
    pub language: &'static str,
    hello: &'static str,
    /// Copies stdin to stdout.
    echo: &'static str,
    /// Reads two integers, prints their sum.
    sum: &'static str,
    /// A program that does not compile, and a fragment of the compiler's message.
    compile_error: Option<(&'static str, &'static str)>,
    exit_3: &'static str,
    busy_loop: &'static str,
    sleep: &'static str,
    memory_hog: &'static str,
    output_flood: &'static str,
}

pub const PYTHON: Programs = Programs {
    language: "python",
    hello: "print('hello, world')",
    echo: "import sys\nsys.stdout.write(sys.stdin.read())",
    sum: "a, b = map(int, input().split())\nprint(a + b)",
    compile_error: None,
    exit_3: "import sys\nsys.exit(3)",
    busy_loop: "while True:\n    pass",
    sleep: "import time\ntime.sleep(30)",
    memory_hog: "blocks = []\nwhile True:\n    blocks.append(b'x' * (1 << 24))",
    output_flood: "while True:\n    print('y' * 1000)",
};

pub const JAVASCRIPT: Programs = Programs {
    language: "javascript",
    hello: "console.log('hello, world')",
    echo: "process.stdout.write(require('fs').readFileSync(0))",
    sum: "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\nconsole.log(a + b)",
    compile_error: None,
    exit_3: "process.exit(3)",
    busy_loop: "for (;;) {}",
    sleep: "setTimeout(() => {}, 30000)",
    memory_hog: "const blocks = [];\nfor (;;) blocks.push(Buffer.alloc(1 << 24, 1));",
    // Node queues what a full pipe refuses until its event loop runs, so a tight write loop grows
    // the heap rather than the output; the idiomatic flood waits for 'drain'.
    output_flood: "const line = 'y'.repeat(1000) + '\\n';\n(function pump() { while (process.stdout.write(line)); process.stdout.once('drain', pump); })();",
};

pub const CPP: Programs = Programs {
    language: "cpp",
    hello: "#include <cstdio>\nint main() { std::puts(\"hello, world\"); }",
    echo: "#include <iostream>\nint main() { std::cout << std::cin.rdbuf(); }",
    sum: "#include <iostream>\nint main() { long long a, b; std::cin >> a >> b; std::cout << a + b << '\\n'; }",
    compile_error: Some(("int main() { return undeclared_name; }", "undeclared_name")),
    exit_3: "int main() { return 3; }",
    busy_loop: "int main() { volatile unsigned long x = 0; for (;;) x++; }",
    sleep: "#include <unistd.h>\nint main() { sleep(30); }",
    memory_hog: "#include <cstdlib>\n#include <cstring>\nint main() { for (;;) { char* p = static_cast<char*>(std::malloc(1 << 24)); std::memset(p, 1, 1 << 24); } }",
    output_flood: "#include <cstdio>\nint main() { for (;;) std::puts(\"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\"); }",
};

pub const C: Programs = Programs {
    language: "c",
    hello: "#include <stdio.h>\nint main(void) { puts(\"hello, world\"); return 0; }",
    echo: "#include <stdio.h>\nint main(void) { int c; while ((c = getchar()) != EOF) putchar(c); return 0; }",
    sum: "#include <stdio.h>\nint main(void) { long long a, b; if (scanf(\"%lld %lld\", &a, &b) != 2) return 1; printf(\"%lld\\n\", a + b); return 0; }",
    compile_error: Some(("int main(void) { return undeclared_name; }", "undeclared_name")),
    exit_3: "int main(void) { return 3; }",
    busy_loop: "int main(void) { volatile unsigned long x = 0; for (;;) x++; }",
    sleep: "#include <unistd.h>\nint main(void) { sleep(30); return 0; }",
    memory_hog: "#include <stdlib.h>\n#include <string.h>\nint main(void) { for (;;) { char* p = malloc(1 << 24); memset(p, 1, 1 << 24); } }",
    output_flood: "#include <stdio.h>\nint main(void) { for (;;) puts(\"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\"); }",
};

pub const CSHARP: Programs = Programs {
    language: "csharp",
    hello: "class P { static void Main() { System.Console.WriteLine(\"hello, world\"); } }",
    echo: "class P { static void Main() { System.Console.Out.Write(System.Console.In.ReadToEnd()); } }",
    sum: "class P { static void Main() { var p = System.Console.ReadLine().Split(' '); System.Console.WriteLine(long.Parse(p[0]) + long.Parse(p[1])); } }",
    compile_error: Some(("class P { static void Main() { int x = \"text\"; } }", "CS0029")),
    exit_3: "class P { static void Main() { System.Environment.Exit(3); } }",
    busy_loop: "class P { static void Main() { for (;;) {} } }",
    sleep: "class P { static void Main() { System.Threading.Thread.Sleep(30000); } }",
    memory_hog: "class P { static void Main() { var l = new System.Collections.Generic.List<byte[]>(); for (;;) { var b = new byte[1 << 24]; for (int i = 0; i < b.Length; i += 4096) b[i] = 1; l.Add(b); } } }",
    output_flood: "class P { static void Main() { var s = new string('y', 1000); for (;;) System.Console.WriteLine(s); } }",
};

pub const JAVA: Programs = Programs {
    language: "java",
    hello: "public class Main { public static void main(String[] a) { System.out.println(\"hello, world\"); } }",
    echo: "public class Main { public static void main(String[] a) throws Exception { System.out.write(System.in.readAllBytes()); System.out.flush(); } }",
    sum: "import java.util.Scanner;\npublic class Main { public static void main(String[] a) { Scanner s = new Scanner(System.in); long x = s.nextLong(), y = s.nextLong(); System.out.println(x + y); } }",
    compile_error: Some((
        "public class Main { public static void main(String[] a) { int x = \"text\"; } }",
        "incompatible types",
    )),
    exit_3: "public class Main { public static void main(String[] a) { System.exit(3); } }",
    busy_loop: "public class Main { public static void main(String[] a) { for (;;) {} } }",
    sleep: "public class Main { public static void main(String[] a) throws Exception { Thread.sleep(30000); } }",
    memory_hog: "import java.util.*;\npublic class Main { public static void main(String[] a) { List<byte[]> l = new ArrayList<>(); for (;;) { byte[] b = new byte[1 << 24]; for (int i = 0; i < b.length; i += 4096) b[i] = 1; l.add(b); } } }",
    output_flood: "public class Main { public static void main(String[] a) { String s = \"y\".repeat(1000); for (;;) System.out.println(s); } }",
};

pub const GO: Programs = Programs {
    language: "go",
    hello: "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"hello, world\") }",
    echo: "package main\nimport (\"io\"; \"os\")\nfunc main() { io.Copy(os.Stdout, os.Stdin) }",
    sum: "package main\nimport \"fmt\"\nfunc main() { var a, b int64; fmt.Scan(&a, &b); fmt.Println(a + b) }",
    compile_error: Some(("package main\nfunc main() { x := undeclared_name; _ = x }", "undeclared_name")),
    exit_3: "package main\nimport \"os\"\nfunc main() { os.Exit(3) }",
    busy_loop: "package main\nfunc main() { for {} }",
    sleep: "package main\nimport \"time\"\nfunc main() { time.Sleep(30 * time.Second) }",
    memory_hog: "package main\nvar keep [][]byte\nfunc main() { for { b := make([]byte, 1<<24); for i := 0; i < len(b); i += 4096 { b[i] = 1 }; keep = append(keep, b) } }",
    output_flood: "package main\nimport (\"bufio\"; \"os\"; \"strings\")\nfunc main() { w := bufio.NewWriter(os.Stdout); s := strings.Repeat(\"y\", 1000) + \"\\n\"; for { w.WriteString(s) } }",
};

pub const RUST: Programs = Programs {
    language: "rust",
    hello: "fn main() { println!(\"hello, world\"); }",
    echo: "use std::io::{Read, Write};\nfn main() { let mut b = Vec::new(); std::io::stdin().read_to_end(&mut b).unwrap(); std::io::stdout().write_all(&b).unwrap(); }",
    sum: "use std::io::Read;\nfn main() { let mut s = String::new(); std::io::stdin().read_to_string(&mut s).unwrap(); let v: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect(); println!(\"{}\", v[0] + v[1]); }",
    compile_error: Some(("fn main() { let x: i32 = undeclared_name; }", "undeclared_name")),
    exit_3: "fn main() { std::process::exit(3); }",
    busy_loop: "fn main() { loop {} }",
    sleep: "fn main() { std::thread::sleep(std::time::Duration::from_secs(30)); }",
    memory_hog: "fn main() { let mut keep = Vec::new(); loop { let mut b = vec![0u8; 1 << 24]; for i in (0..b.len()).step_by(4096) { b[i] = 1; } keep.push(b); } }",
    output_flood: "use std::io::Write;\nfn main() { let out = std::io::stdout(); let mut out = out.lock(); let s = \"y\".repeat(1000); loop { writeln!(out, \"{}\", s).unwrap(); } }",
};

pub const TYPESCRIPT: Programs = Programs {
    language: "typescript",
    hello: "console.log('hello, world');",
    echo: "process.stdout.write(require('fs').readFileSync(0));",
    sum: "const [a, b]: number[] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\nconsole.log(a + b);",
    compile_error: Some(("const x: number = 'text';\nconsole.log(x);", "not assignable")),
    exit_3: "process.exit(3);",
    busy_loop: "for (;;) {}",
    sleep: "setTimeout(() => {}, 30000);",
    memory_hog: "const blocks: Buffer[] = [];\nfor (;;) blocks.push(Buffer.alloc(1 << 24, 1));",
    output_flood: "const line = 'y'.repeat(1000) + '\\n';\n(function pump(): void { while (process.stdout.write(line)); process.stdout.once('drain', pump); })();",
};

pub const RUBY: Programs = Programs {
    language: "ruby",
    hello: "puts 'hello, world'",
    echo: "$stdout.write($stdin.read)",
    sum: "a, b = gets.split.map(&:to_i)\nputs a + b",
    compile_error: None,
    exit_3: "exit 3",
    busy_loop: "loop {}",
    sleep: "sleep 30",
    memory_hog: "blocks = []\nloop { blocks << ('x' * (1 << 24)) }",
    output_flood: "s = 'y' * 1000\nloop { puts s }",
};

pub const BASH: Programs = Programs {
    language: "bash",
    hello: "echo 'hello, world'",
    echo: "cat",
    sum: "read a b\necho $((a + b))",
    compile_error: None,
    exit_3: "exit 3",
    busy_loop: "while :; do :; done",
    sleep: "sleep 30",
    memory_hog: "x=y\nwhile :; do x=$x$x; done",
    output_flood: "yes yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
};

/// Every language's programs as JSON, for the rivals' client scripts (`tests/clients`):
/// `{"<language id>": {"hello", "echo", "sum", "compile_error" (or null), "exit_3", "busy_loop",
/// "memory_hog", "output_flood"}}`.
pub fn programs_json() -> Value {
    let programs = ALL.iter().map(|p| {
        let program = json!({
            "hello": p.hello, "echo": p.echo, "sum": p.sum,
            "compile_error": p.compile_error.map(|(code, _)| code),
            "exit_3": p.exit_3, "busy_loop": p.busy_loop, "memory_hog": p.memory_hog, "output_flood": p.output_flood,
        });
        (p.language.to_owned(), program)
    });
    Value::Object(programs.collect())
}

fn verdicts(view: &Value) -> Vec<&str> {
    view["tests"].as_array().expect("tests").iter().map(|t| t["verdict"].as_str().expect("verdict")).collect()
}

pub fn single(view: &Value) -> &Value {
    let tests = view["tests"].as_array().expect("tests");
    assert_eq!(tests.len(), 1, "a plain run has one entry: {view}");
    &tests[0]
}

/// The facts that tell why a single run got its verdict, short enough to survive a truncated log.
pub fn brief(view: &Value) -> String {
    let t = single(view);
    let stderr: String = t["stderr"].as_str().unwrap_or_default().chars().take(300).collect();
    format!(
        "verdict {} limit {} exit {} signal {} cpu {} ms wall {} ms memory {} KiB stderr {stderr:?}",
        view["verdict"], t["limit"], t["exit_code"], t["signal"], t["time_ms"], t["wall_time_ms"], t["memory_kb"]
    )
}

/// Every language's programs, in catalogue order.
pub const ALL: [&Programs; 11] =
    [&PYTHON, &JAVASCRIPT, &CPP, &C, &CSHARP, &JAVA, &GO, &RUST, &TYPESCRIPT, &RUBY, &BASH];

async fn matrix(p: &Programs) {
    let (_dir, server) = fresh();
    let lang = p.language;

    hello(&server, p).await;

    let view = server.run(lang, p.echo, "line one\nline two\n").await;
    assert_eq!(single(&view)["stdout"], "line one\nline two\n", "{lang} echo: {view}");

    judged(&server, p).await;
    compile_error(&server, p).await;

    let view = server.run(lang, p.exit_3, "").await;
    assert_eq!(view["verdict"], "runtime_error", "{lang} exit 3: {view}");
    assert_eq!(single(&view)["exit_code"], 3, "{lang} exit 3: {view}");

    limits(&server, p).await;
}

pub async fn hello(server: &Server, p: &Programs) {
    let lang = p.language;
    let view = server.run(lang, p.hello, "").await;
    assert_eq!(view["verdict"], "accepted", "{lang} hello: {view}");
    assert_eq!(single(&view)["stdout"], "hello, world\n", "{lang} hello: {view}");
}

/// A compiled language's compile error is the job's verdict, with the compiler's message.
pub async fn compile_error(server: &Server, p: &Programs) {
    let lang = p.language;
    if let Some((code, message)) = p.compile_error {
        let view = server.run(lang, code, "").await;
        assert_eq!(view["verdict"], "compilation_error", "{lang} compile error: {view}");
        let output = view["compile"]["output"].as_str().expect("compiler output");
        assert!(output.contains(message), "{lang}: compiler output lacks {message:?}: {output}");
        assert_ne!(view["compile"]["exit_code"], 0);
    }
}

/// Accepted and wrong answers, visible and hidden tests.
pub async fn judged(server: &Server, p: &Programs) {
    let lang = p.language;
    let view = server
        .judge(json!({
            "language": lang,
            "code": p.sum,
            "tests": [
                {"name": "sample", "input": "1 2\n", "expected_output": "3\n"},
                {"name": "visible-wrong", "input": "2 2\n", "expected_output": "5\n"},
                {"name": "secret", "input": "40 2\n", "expected_output": "42\n", "hidden": true},
                {"name": "secret-wrong", "input": "1 1\n", "expected_output": "3\n", "hidden": true},
            ],
        }))
        .await;
    assert_eq!(verdicts(&view), ["accepted", "wrong_answer", "accepted", "wrong_answer"], "{lang}: {view}");
    assert_eq!(view["verdict"], "wrong_answer");
    assert_eq!(view["summary"], json!({"passed": 2, "total": 4}));
    let wrong = &view["tests"][1];
    assert_eq!(wrong["expected_output"], "5\n", "{lang}: visible tests show what was expected");
    assert_eq!(wrong["stdout"], "4\n", "{lang}: visible tests show what came out");
    assert_eq!(wrong["input"], "2 2\n");
    let body = view.to_string();
    for hidden in &view["tests"].as_array().expect("tests")[2..] {
        assert!(hidden.get("input").is_none() && hidden.get("expected_output").is_none(), "{lang}: {hidden}");
    }
    assert!(!body.contains("40 2") && !body.contains("42\\n"), "{lang}: hidden test data leaked: {body}");
    if p.compile_error.is_some() {
        assert_eq!(view["compile"]["exit_code"], 0, "{lang}: {view}");
    }
}

fn run_with(p: &Programs, code: &str, limits: Value) -> Value {
    json!({"language": p.language, "code": code, "limits": limits})
}

/// A busy loop is stopped at its CPU limit.
pub async fn time_limit(server: &Server, p: &Programs) {
    let lang = p.language;
    let view = server.judge(run_with(p, p.busy_loop, json!({"time_ms": 1000, "wall_time_ms": 10000}))).await;
    let test = single(&view);
    assert_eq!(view["verdict"], "time_limit_exceeded", "{lang} busy loop: {}", brief(&view));
    assert_eq!(test["limit"], "cpu_time", "{lang} busy loop: {}", brief(&view));
    assert!(test["time_ms"].as_u64().expect("cpu time") >= 1000, "{lang}: {test}");
}

/// A program that allocates and touches memory until it is stopped is stopped at its limit.
pub async fn memory_limit(server: &Server, p: &Programs) {
    let view = server.judge(run_with(p, p.memory_hog, json!({"memory_mb": 128, "time_ms": 5000}))).await;
    assert_eq!(view["verdict"], "memory_limit_exceeded", "{} memory hog: {}", p.language, brief(&view));
}

async fn limits(server: &Server, p: &Programs) {
    let lang = p.language;
    let run_with = |code: &str, limits: Value| run_with(p, code, limits);

    time_limit(server, p).await;

    let view = server.judge(run_with(p.sleep, json!({"time_ms": 1000, "wall_time_ms": 1500}))).await;
    assert_eq!(view["verdict"], "time_limit_exceeded", "{lang} sleep: {}", brief(&view));
    assert_eq!(single(&view)["limit"], "wall_time", "{lang} sleep: {}", brief(&view));

    memory_limit(server, p).await;

    let view = server.judge(run_with(p.output_flood, json!({"output_kb": 64, "time_ms": 5000}))).await;
    let test = single(&view);
    assert_eq!(view["verdict"], "output_limit_exceeded", "{lang} output flood: {}", brief(&view));
    assert_eq!(test["truncated"], true);
    assert!(test["stdout"].as_str().expect("stdout").len() <= 64 * 1024, "{lang}: output over the cap");
}

#[tokio::test(flavor = "multi_thread")]
async fn python() {
    matrix(&PYTHON).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn javascript() {
    matrix(&JAVASCRIPT).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cpp() {
    matrix(&CPP).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn c() {
    matrix(&C).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn csharp() {
    matrix(&CSHARP).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn java() {
    matrix(&JAVA).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn go() {
    matrix(&GO).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rust() {
    matrix(&RUST).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn typescript() {
    matrix(&TYPESCRIPT).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ruby() {
    matrix(&RUBY).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bash() {
    matrix(&BASH).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn runtime_error_reports_the_signal() {
    let (_dir, server) = fresh();
    let view = server.run("cpp", "int main() { volatile int* p = nullptr; *p = 1; }", "").await;
    assert_eq!(view["verdict"], "runtime_error", "{view}");
    assert_eq!(single(&view)["signal"], 11, "{view}");
}

#[tokio::test(flavor = "multi_thread")]
async fn float_and_tokens_checkers_and_stop_on_first_failure() {
    let (_dir, server) = fresh();
    let view = server
        .judge(json!({
            "language": "python",
            "code": "print(1 / 3)",
            "tests": [{"input": "", "expected_output": "0.333333"}],
            "checker": {"mode": "float", "abs": 1e-5},
        }))
        .await;
    assert_eq!(view["verdict"], "accepted", "{view}");
    let view = server
        .judge(json!({
            "language": "python",
            "code": "import sys\nn = int(input())\nprint(n * 2)\nsys.exit(0 if n < 2 else 1)",
            "tests": [
                {"input": "1", "expected_output": "2"},
                {"input": "2", "expected_output": "4"},
                {"input": "3", "expected_output": "6"},
            ],
            "stop_on_first_failure": true,
        }))
        .await;
    assert_eq!(verdicts(&view), ["accepted", "runtime_error", "skipped"], "{view}");
}

/// `args` reach the program's argv in every test, after the run command, and never the compiler.
#[tokio::test(flavor = "multi_thread")]
async fn args_reach_the_program() {
    let (_dir, server) = fresh();
    let args = json!(["one", "two words", "--flag", ""]);
    let view = server
        .judge(json!({
            "language": "python",
            "code": "import sys\nprint(repr(sys.argv[1:]))",
            "args": args,
            "tests": [{"input": "", "expected_output": "['one', 'two words', '--flag', '']"}, {"input": "x"}],
        }))
        .await;
    assert_eq!(verdicts(&view), ["accepted", "accepted"], "{view}");
    let view = server
        .judge(json!({
            "language": "c",
            "code": "#include <stdio.h>\nint main(int argc, char **argv) { for (int i = 1; i < argc; i++) printf(\"[%s]\", argv[i]); }",
            "args": args,
        }))
        .await;
    assert_eq!(single(&view)["stdout"], "[one][two words][--flag][]", "{view}");
}
