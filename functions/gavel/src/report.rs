//! Prints a job's result for people: the program's output for a plain run, a table for tests.

use serde_json::Value;

pub fn print(view: &Value) {
    if view["status"] == "failed" {
        println!("job failed on the platform side: {}", view["error"].as_str().unwrap_or("unknown error"));
        return;
    }
    let compile_output = view["compile"]["output"].as_str().unwrap_or_default();
    if view["verdict"] == "compilation_error" || !compile_output.is_empty() {
        println!("compiler output:\n{compile_output}");
    }
    let tests = view["tests"].as_array().map(Vec::as_slice).unwrap_or_default();
    if let [only] = tests
        && only["name"].is_null()
        && only.get("expected_output").is_none()
    {
        print!("{}", only["stdout"].as_str().unwrap_or_default());
        eprint!("{}", only["stderr"].as_str().unwrap_or_default());
    } else {
        print!("{}", table(tests));
    }
    let summary = &view["summary"];
    println!(
        "verdict: {}  ({} of {} passed)",
        view["verdict"].as_str().unwrap_or("unknown"),
        summary["passed"],
        summary["total"]
    );
}

fn table(tests: &[Value]) -> String {
    let mut out = format!("{:>3}  {:<20} {:<22} {:>9} {:>10}\n", "#", "test", "verdict", "cpu", "memory");
    for (i, test) in tests.iter().enumerate() {
        let name = match test["name"].as_str() {
            Some(name) => name.to_owned(),
            None if test["hidden"] == true => "(hidden)".to_owned(),
            None => format!("test {}", i + 1),
        };
        out.push_str(&format!(
            "{:>3}  {:<20} {:<22} {:>6} ms {:>7} KB\n",
            i + 1,
            name.chars().take(20).collect::<String>(),
            test["verdict"].as_str().unwrap_or("?"),
            test["time_ms"].as_u64().unwrap_or(0),
            test["memory_kb"].as_u64().unwrap_or(0),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_has_a_row_per_test() {
        let tests = [
            json!({"name": "sample", "verdict": "accepted", "time_ms": 12, "memory_kb": 8000}),
            json!({"name": null, "hidden": true, "verdict": "wrong_answer", "time_ms": 3, "memory_kb": 10}),
        ];
        let text = table(&tests);
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[1].contains("sample") && lines[1].contains("accepted") && lines[1].contains("12 ms"));
        assert!(lines[2].contains("(hidden)") && lines[2].contains("wrong_answer"));
    }
}
