//! What a job's outputs may cost: one budget for all its tests, stored losslessly at no more than
//! 4/3 of what the program wrote (UTF-8, or base64 where that is smaller), whatever it wrote.

use base64::Engine;
use serde_json::{Value, json};

use crate::harness::fresh;

fn decoded(test: &Value, stream: &str) -> Vec<u8> {
    let text = test[stream].as_str().expect("an output");
    match test[format!("{stream}_encoding")].as_str() {
        Some("utf8") => text.as_bytes().to_vec(),
        Some("base64") => base64::engine::general_purpose::STANDARD.decode(text).expect("valid base64"),
        other => panic!("unknown encoding {other:?} in {test}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_output_budget_is_the_jobs_not_each_tests() {
    let (_dir, server) = fresh();
    let code = "import sys\nsys.stdout.write('o' * 40000)\nsys.stderr.write('e' * 4000)";
    let view = server
        .judge(json!({"language": "python", "code": code, "limits": {"job_output_kb": 64},
            "tests": [{"input": ""}, {"input": ""}, {"input": ""}]}))
        .await;
    let verdicts: Vec<&str> =
        view["tests"].as_array().expect("tests").iter().filter_map(|t| t["verdict"].as_str()).collect();
    assert_eq!(verdicts, ["accepted", "output_limit_exceeded", "output_limit_exceeded"], "{view}");
    let stored: usize = view["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .map(|t| decoded(t, "stdout").len() + decoded(t, "stderr").len())
        .sum();
    assert_eq!(stored, 64 * 1024, "exactly the budget is kept");
    assert_eq!(view["tests"][1]["truncated"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn output_that_is_not_utf8_is_kept_byte_for_byte() {
    let (_dir, server) = fresh();
    let code = "import os\nos.write(1, bytes(range(256)) * 40)\nos.write(2, b'\\0' * 3000)";
    let view = server.run("python", code, "").await;
    let test = &view["tests"][0];
    assert_eq!((&test["stdout_encoding"], &test["stderr_encoding"]), (&json!("base64"), &json!("base64")), "{test}");
    assert_eq!(decoded(test, "stdout"), (0..=255u8).collect::<Vec<u8>>().repeat(40));
    assert_eq!(decoded(test, "stderr"), vec![0u8; 3000]);
    let text = server.run("python", "print('héllo')", "").await;
    assert_eq!(
        (&text["tests"][0]["stdout"], &text["tests"][0]["stdout_encoding"]),
        (&json!("héllo\n"), &json!("utf8"))
    );
}

/// Tests in base64 give a program any bytes on stdin and judge any bytes it writes; the result
/// echoes them as given.
#[tokio::test(flavor = "multi_thread")]
async fn tests_in_base64_carry_any_bytes_both_ways() {
    let (_dir, server) = fresh();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let (input, echoed) = (b"\x00\xff\xfe 1 2\n".as_slice(), b"\xfe\xff\x00 1 2\n".as_slice());
    let code = "import sys\nb = sys.stdin.buffer.read()\nsys.stdout.buffer.write(b[:3][::-1] + b[3:])";
    let view = server
        .judge(json!({"language": "python", "code": code, "tests": [
            {"input": b64(input), "expected_output": b64(echoed), "encoding": "base64"},
            {"input": b64(input), "expected_output": b64(input), "encoding": "base64"}]}))
        .await;
    let tests = view["tests"].as_array().expect("tests");
    let verdicts: Vec<&str> = tests.iter().filter_map(|t| t["verdict"].as_str()).collect();
    assert_eq!(verdicts, ["accepted", "wrong_answer"], "{view}");
    assert_eq!(decoded(&tests[0], "stdout"), echoed);
    assert_eq!((&tests[0]["input"], &tests[0]["encoding"]), (&json!(b64(input)), &json!("base64")));
    let refused = server
        .post_json(
            "/execute",
            &json!({"language": "python", "code": code,
            "tests": [{"input": "%%%", "encoding": "base64"}]}),
        )
        .await;
    assert_eq!((refused.0, &refused.1["error"]["field"]), (422, &json!("tests[0].input")), "{}", refused.1);
}

/// At the caps (100 tests, 8 MiB per stream, the 64 MiB budget) of the worst bytes for JSON,
/// a result stays within 4/3 of the budget, and the job completes (it is not run again).
#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_tests_at_the_output_caps_make_a_bounded_result() {
    let (_dir, server) = fresh();
    let code =
        "import os\nchunk = b'\\0\\xff' * 32768\nfor _ in range(128):\n    os.write(1, chunk)\n    os.write(2, chunk)";
    let tests: Vec<Value> = (0..100).map(|_| json!({"input": ""})).collect();
    let id = server
        .submit(json!({"language": "python", "code": code, "tests": tests,
            "limits": {"output_kb": 8192, "job_output_kb": 65536, "time_ms": 5000, "wall_time_ms": 10000}}))
        .await;
    let view = server.wait(&id, std::time::Duration::from_secs(600)).await;
    assert_eq!(view["status"], "completed", "{}", view["error"]);
    let tests = view["tests"].as_array().expect("tests");
    assert_eq!(tests.len(), 100);
    let raw: usize = tests.iter().map(|t| decoded(t, "stdout").len() + decoded(t, "stderr").len()).sum();
    assert_eq!(raw, 64 << 20, "the budget, exactly");
    let stored: usize =
        tests.iter().map(|t| t["stdout"].as_str().map_or(0, str::len) + t["stderr"].as_str().map_or(0, str::len)).sum();
    assert!(stored <= raw / 3 * 4 + 8 * tests.len(), "{stored} bytes stored for {raw} written");
    let total = serde_json::to_string(&view).expect("json").len();
    assert!(total < (64 << 20) / 3 * 4 + (1 << 20), "the whole result is {total} bytes");
}
