use gavel_core::language::{self, LanguageStatus};
use serde_json::json;

use super::*;

fn statuses() -> Vec<LanguageStatus> {
    language::catalogue()
        .iter()
        .map(|language| LanguageStatus { language, available: language.id != "csharp", version: Some("1.2.3".into()) })
        .collect()
}

fn check(body: Value, base64: bool) -> Result<Submission, FieldErrors> {
    check_with(body, base64, &Judge0Config { enable_callbacks: false, ..Judge0Config::default() })
}

fn check_with(body: Value, base64: bool, config: &Judge0Config) -> Result<Submission, FieldErrors> {
    let statuses = statuses();
    let server = ServerLimits::default();
    let rules = Rules::new(&server);
    let context = Context { catalog: Catalog(&statuses), rules: &rules, server: &server, config, base64 };
    validate(&body, &context)
}

fn errors(body: Value) -> Value {
    match check(body, false) {
        Ok(submission) => panic!("valid: {submission:?}"),
        Err(errors) => json!(errors),
    }
}

#[test]
fn a_minimal_submission_takes_judge0s_defaults() {
    let submission = check(json!({"source_code": "print(1)", "language_id": 71}), false).expect("valid");
    assert_eq!(submission.language.id, "python");
    let values = submission.shared.values;
    assert_eq!((values.cpu_time_limit, values.cpu_extra_time, values.wall_time_limit), (5.0, 1.0, 10.0));
    assert_eq!((values.memory_limit, values.stack_limit, values.max_file_size), (128_000, 64_000, 1024));
    assert_eq!((values.max_processes_and_or_threads, values.number_of_runs), (60, 1));
    assert!(!submission.shared.redirect_stderr_to_stdout);
    assert_eq!(submission.item, Item { stdin: None, expected_output: None, callback_url: None, deleted: false });
}

#[test]
fn numbers_may_be_strings_and_unknown_keys_are_ignored() {
    let body = json!({
        "source_code": "x", "language_id": "54", "cpu_time_limit": "2.5", "memory_limit": " 65536 ",
        "number_of_runs": 3.9, "redirect_stderr_to_stdout": "true", "wall_time_limit": "",
        "stdin": "in", "expected_output": "out", "whatever": {"nested": true}, "max_file_size": null,
    });
    let submission = check(body, false).expect("valid");
    assert_eq!(submission.language.id, "cpp");
    let values = submission.shared.values;
    assert_eq!((values.cpu_time_limit, values.memory_limit, values.number_of_runs), (2.5, 65_536, 3));
    assert_eq!((values.wall_time_limit, values.max_file_size), (10.0, 1024), "blank and null take the default");
    assert!(submission.shared.redirect_stderr_to_stdout);
    assert_eq!(submission.item.stdin, Some(Output::text("in")));
}

#[test]
fn blanks_give_both_language_messages_as_rails_does() {
    assert_eq!(
        errors(json!({})),
        json!({"source_code": ["can't be blank"], "language_id": ["can't be blank", "language with id  doesn't exist"]})
    );
    assert_eq!(errors(json!({"source_code": "   ", "language_id": 71})), json!({"source_code": ["can't be blank"]}));
    // Arrays and objects are not permitted values: as if absent.
    assert_eq!(errors(json!({"source_code": ["x"], "language_id": 71}))["source_code"], json!(["can't be blank"]));
}

#[test]
fn unknown_and_archived_languages() {
    let unknown = errors(json!({"source_code": "x", "language_id": 150000}));
    assert_eq!(unknown, json!({"language_id": ["language with id 150000 doesn't exist"]}));
    let archived = errors(json!({"source_code": "x", "language_id": 68}));
    assert_eq!(archived, json!({"language_id": ["language with id 68 is archived and cannot be used anymore"]}));
    // C# is unavailable on this deployment: archived here.
    let unavailable = errors(json!({"source_code": "x", "language_id": 51}));
    assert_eq!(unavailable["language_id"], json!(["language with id 51 is archived and cannot be used anymore"]));
    assert_eq!(
        errors(json!({"source_code": "x", "language_id": "abc"}))["language_id"],
        json!(["language with id 0 doesn't exist"])
    );
}

#[test]
fn every_range_error_at_once_in_the_models_order() {
    let body = json!({
        "source_code": "x", "language_id": 71, "cpu_time_limit": 16, "wall_time_limit": 0.5,
        "memory_limit": "lots", "max_processes_and_or_threads": 0, "number_of_runs": 21, "stack_limit": -1,
        "max_file_size": 5000, "cpu_extra_time": 6,
    });
    let text = serde_json::to_string(&check(body, false).expect_err("invalid")).expect("json");
    assert_eq!(
        text,
        concat!(
            r#"{"number_of_runs":["must be less than or equal to 20"],"#,
            r#""cpu_time_limit":["must be less than or equal to 15.0"],"#,
            r#""cpu_extra_time":["must be less than or equal to 5.0"],"#,
            r#""wall_time_limit":["must be greater than or equal to 1"],"#,
            r#""memory_limit":["is not a number"],"stack_limit":["must be greater than or equal to 0"],"#,
            r#""max_processes_and_or_threads":["must be greater than 0"],"#,
            r#""max_file_size":["must be less than or equal to 4096"]}"#
        )
    );
}

#[test]
fn what_gavel_does_not_do_is_refused_in_judge0s_words() {
    let body = json!({
        "source_code": "x", "language_id": 54, "compiler_options": "-O3", "callback_url": "http://example.test/cb",
        "additional_files": "UEsDBAo=", "enable_network": true, "enable_per_process_and_thread_time_limit": "1",
        "enable_per_process_and_thread_memory_limit": true,
    });
    assert_eq!(
        errors(body),
        json!({
            "enable_per_process_and_thread_time_limit": ["this option cannot be enabled"],
            "enable_per_process_and_thread_memory_limit": ["this option cannot be enabled"],
            "compiler_options": ["setting compiler options is not allowed"],
            "callback_url": ["setting callback is not allowed"],
            "additional_files": ["setting additional files is not allowed"],
            "enable_network": ["enabling network is not allowed"],
        })
    );
    // Their off values, and blanks, are fine.
    let body = json!({
        "source_code": "x", "language_id": 54, "compiler_options": " ", "callback_url": "", "enable_network": false,
        "enable_per_process_and_thread_time_limit": "false", "enable_per_process_and_thread_memory_limit": 0,
    });
    check(body, false).expect("valid");
}

#[test]
fn callbacks_are_taken_where_enabled_to_public_http_urls() {
    let on = Judge0Config::default();
    let body = |url: &str| json!({"source_code": "x", "language_id": 54, "callback_url": url});
    let taken = check_with(body("https://example.com/judge0?job=1"), false, &on).expect("valid");
    assert_eq!(taken.item.callback_url.as_deref(), Some("https://example.com/judge0?job=1"));
    let refused = |url: &str, config: &Judge0Config| match check_with(body(url), false, config) {
        Err(errors) => json!(errors)["callback_url"].clone(),
        Ok(_) => panic!("{url} was taken"),
    };
    assert_eq!(refused("file:///etc/passwd", &on), json!(["must be an http or https URL"]));
    assert_eq!(refused("http://127.0.0.1:9/", &on), json!(["must not be a loopback, link-local or private address"]));
    let private = Judge0Config { callbacks_allow_private: true, ..Judge0Config::default() };
    check_with(body("http://127.0.0.1:9/"), false, &private).expect("the operator allows private addresses");
}

#[test]
fn option_lengths_are_capped() {
    let long = "a".repeat(513);
    let body = json!({"source_code": "x", "language_id": 71, "command_line_arguments": long});
    assert_eq!(errors(body), json!({"command_line_arguments": ["is too long (maximum is 512 characters)"]}));
    let many = "a ".repeat(200);
    let body = json!({"source_code": "x", "language_id": 71, "command_line_arguments": many});
    assert_eq!(errors(body), json!({"command_line_arguments": ["is more than 128 arguments"]}));
}

#[test]
fn base64_fields_are_decoded_leniently() {
    let body = json!({
        "source_code": "cHJpbnQoaW5wdXQoKSk=\n", "language_id": 71, "stdin": "aMOpbGxv", "expected_output": "/w",
        "command_line_arguments": "not base64",
    });
    let submission = check(body, true).expect("valid");
    assert_eq!(submission.shared.source_code, Output::text("print(input())"));
    assert_eq!(submission.item.stdin, Some(Output::text("héllo")));
    // Expected output need not be UTF-8: Gavel judges bytes.
    assert_eq!(submission.item.expected_output.as_ref().and_then(|o| o.bytes()).as_deref(), Some(&[0xff][..]));
    assert_eq!(submission.shared.command_line_arguments.as_deref(), Some("not base64"));
}

#[test]
fn what_gavel_cannot_run_is_refused_on_its_attribute() {
    let body = json!({"source_code": "/w==", "language_id": 71, "stdin": "/w=="});
    let refused = match check(body, true) {
        Err(errors) => json!(errors),
        Ok(_) => panic!("bytes that are not UTF-8 are no text"),
    };
    // Stdin may be any bytes; the source is text.
    assert_eq!(refused, json!({"source_code": ["is not valid UTF-8: Gavel takes source code as text"]}));
    let huge = "x".repeat(ServerLimits::default().max_code_bytes + 1);
    assert_eq!(
        errors(json!({"source_code": huge, "language_id": 71}))["source_code"],
        json!(["is too long (maximum is 262144 bytes)"])
    );
    assert_eq!(
        errors(json!({"source_code": "a\u{0}b", "language_id": 71}))["source_code"],
        json!(["must not contain NUL bytes"])
    );
}

#[test]
fn rails_casts() {
    assert_eq!(ruby_to_i(" 42abc"), 42);
    assert_eq!(ruby_to_i("-7"), -7);
    assert_eq!(ruby_to_i("abc"), 0);
    assert_eq!(boolean(Some(&json!("off"))), Some(false));
    assert_eq!(boolean(Some(&json!("yes"))), Some(true));
    assert_eq!(boolean(Some(&json!(""))), None);
    assert_eq!(boolean(Some(&json!(0))), Some(false));
}
