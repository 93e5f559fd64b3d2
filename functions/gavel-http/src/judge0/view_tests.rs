use chrono::TimeZone;
use gavel_core::{JobId, JobStatus, Verdict};

use super::*;
use crate::judge0::fields::ALL;
use crate::judge0::fixtures;
use crate::judge0::limits::Values;
use crate::judge0::record::{Item, Shared};

fn job(stdin: &[u8]) -> StoredJob {
    StoredJob {
        shared: Shared {
            language_id: 71,
            source_code: Output::text("print(input())"),
            command_line_arguments: Some("a b".into()),
            values: Values {
                number_of_runs: 1,
                cpu_time_limit: 5.0,
                cpu_extra_time: 1.0,
                wall_time_limit: 10.0,
                memory_limit: 128_000,
                stack_limit: 64_000,
                max_processes_and_or_threads: 60,
                max_file_size: 1024,
            },
            enable_per_process_and_thread_time_limit: false,
            enable_per_process_and_thread_memory_limit: false,
            redirect_stderr_to_stdout: false,
        },
        items: vec![Item {
            stdin: Some(Output::encode(stdin)),
            expected_output: Some(Output::text("hi")),
            callback_url: None,
            deleted: false,
        }],
    }
}

fn record(stdout: &[u8]) -> JobRecord {
    let created = Utc.with_ymd_and_hms(2024, 4, 3, 5, 40, 51).single().expect("a time");
    let mut record = JobRecord::pending(JobId::new(), "python", created);
    record.status = JobStatus::Completed;
    record.finished_at = Some(created);
    record.result = Some(fixtures::result(vec![fixtures::ran(Verdict::Accepted, stdout)], Verdict::Accepted));
    record
}

fn render(record: &JobRecord, job: &StoredJob, fields: Fields, base64: bool) -> Result<Object, NotUtf8> {
    let submission = Submission {
        token: record.id.to_string(),
        record,
        job,
        item: 0,
        language_name: Some("Python (3.11.2)".into()),
    };
    submission.render(fields, base64)
}

#[test]
fn star_is_all_35_keys_in_the_serializers_order() {
    let (record, job) = (record(b"hi\n"), job(b"x"));
    let object = render(&record, &job, Fields::all(), false).expect("UTF-8");
    assert_eq!(object.keys(), ALL);
    let value = serde_json::to_value(&object).expect("json");
    assert_eq!(value["time"], "0.021");
    assert_eq!(value["wall_time"], "0.04");
    assert_eq!(value["memory"], 3284);
    assert_eq!(value["cpu_time_limit"], "5.0");
    assert_eq!(value["wall_time_limit"], "10.0");
    assert_eq!(value["created_at"], "2024-04-03T05:40:51.000Z");
    assert_eq!(value["finished_at"], "2024-04-03T05:40:51.000Z");
    assert_eq!(value["stderr"], Value::Null, "an empty output is null");
    assert_eq!(value["status"], json!({"id": 3, "description": "Accepted"}));
    assert_eq!(value["language"], json!({"id": 71, "name": "Python (3.11.2)"}));
    assert_eq!(
        (&value["exit_code"], &value["exit_signal"], &value["message"]),
        (&json!(0), &Value::Null, &Value::Null)
    );
    assert_eq!(value["command_line_arguments"], "a b");
    assert_eq!((&value["compiler_options"], &value["callback_url"]), (&Value::Null, &Value::Null));
    assert_eq!(value["enable_network"], false);
    let text = serde_json::to_string(&object).expect("json");
    assert!(text.starts_with(r#"{"source_code":"print(input())","language_id":71,"stdin":"x""#), "{text}");
    assert!(
        text.ends_with(r#""status":{"id":3,"description":"Accepted"},"language":{"id":71,"name":"Python (3.11.2)"}}"#),
        "{text}"
    );
}

#[test]
fn base64_wraps_outputs_and_the_message() {
    let mut record = record(b"hello, Judge0\n");
    if let Some(test) = record.result.as_mut().and_then(|r| r.tests.first_mut()) {
        test.verdict = Verdict::RuntimeError;
        test.exit_code = Some(1);
    }
    let fields = Fields::parse(Some("stdout,message,command_line_arguments,source_code")).expect("fields");
    let object = render(&record, &job(b"x"), fields, true).expect("base64 is always text");
    assert_eq!(object.get("stdout"), Some(json!("aGVsbG8sIEp1ZGdlMAo=\n")));
    assert_eq!(object.get("message"), Some(json!(base64::encode(b"Exited with error status 1"))));
    assert_eq!(object.get("source_code"), Some(json!("cHJpbnQoaW5wdXQoKSk=\n")));
    assert_eq!(object.get("command_line_arguments"), Some(json!("a b")), "never base64");
}

#[test]
fn bytes_that_are_not_utf8_need_base64() {
    let (record, job) = (record(b"\xff\xfe\n"), job(b"x"));
    assert_eq!(render(&record, &job, Fields::default_set(), false), Err(NotUtf8));
    let encoded = render(&record, &job, Fields::default_set(), true).expect("base64");
    assert_eq!(encoded.get("stdout"), Some(json!("//4K\n")));
    // Only requested attributes count.
    let fields = Fields::parse(Some("token,status")).expect("fields");
    assert!(render(&record, &job, fields, false).is_ok());
}

#[test]
fn the_default_eight() {
    let object = render(&record(b"hi\n"), &job(b"x"), Fields::default_set(), false).expect("UTF-8");
    assert_eq!(object.keys(), ["stdout", "time", "memory", "stderr", "token", "compile_output", "message", "status"]);
}

#[test]
fn a_pending_submission_has_no_run_attributes_yet() {
    let pending = JobRecord::pending(JobId::new(), "python", Utc::now());
    let value = serde_json::to_value(render(&pending, &job(b"x"), Fields::all(), false).expect("UTF-8")).expect("json");
    assert_eq!(value["status"], json!({"id": 1, "description": "In Queue"}));
    for key in ["time", "wall_time", "memory", "stdout", "exit_code", "finished_at", "message"] {
        assert_eq!(value[key], Value::Null, "{key}");
    }
    let created = value["created_at"].as_str().expect("created_at");
    assert!(created.ends_with('Z') && created.len() == 24, "{created}");
}

#[test]
fn the_error_with_token_keeps_judge0s_order() {
    let text = serde_json::to_string(&Object::error_with_token("no", "t")).expect("json");
    assert_eq!(text, r#"{"error":"no","token":"t"}"#);
}
