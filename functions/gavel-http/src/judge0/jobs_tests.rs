use gavel_core::language::{self, LanguageStatus};
use serde_json::json;

use super::*;
use crate::Judge0Config;
use crate::judge0::languages::Catalog;
use crate::judge0::request::{self, Context};

fn submissions(bodies: &[serde_json::Value]) -> Vec<(usize, Submission)> {
    let statuses: Vec<LanguageStatus> = language::catalogue()
        .iter()
        .map(|language| LanguageStatus { language, available: true, version: None })
        .collect();
    let server = ServerLimits::default();
    let rules = Rules::new(&server);
    let config = Judge0Config::default();
    let context =
        Context { catalog: Catalog(&statuses), rules: &rules, server: &server, config: &config, base64: false };
    bodies.iter().enumerate().map(|(i, body)| (i, request::validate(body, &context).expect("valid"))).collect()
}

fn cpp(stdin: &str) -> serde_json::Value {
    json!({"source_code": "int main(){}", "language_id": 54, "stdin": stdin, "expected_output": stdin})
}

#[test]
fn alike_submissions_are_one_job_and_the_rest_their_own() {
    let server = ServerLimits::default();
    let rules = Rules::new(&server);
    let bodies = [
        cpp("1"),
        json!({"source_code": "print(1)", "language_id": 71}),
        cpp("2"),
        json!({"source_code": "int main(){}", "language_id": 54, "stdin": "3", "cpu_time_limit": 2}),
        cpp("4"),
        // The same source under another C++ id is another Judge0 language: its own job.
        json!({"source_code": "int main(){}", "language_id": 53, "stdin": "5"}),
    ];
    let groups = group(submissions(&bodies), &rules, &server);
    let members: Vec<Vec<usize>> = groups.iter().map(|g| g.members.clone()).collect();
    assert_eq!(members, [vec![0, 2, 4], vec![1], vec![3], vec![5]]);
    assert_eq!(groups[0].job.items.len(), 3);
}

#[test]
fn a_group_holds_no_more_than_its_tokens_can_number() {
    let server = ServerLimits { max_tests: 1000, ..ServerLimits::default() };
    let rules = Rules::new(&server);
    let bodies: Vec<_> = (0..40).map(|i| cpp(&i.to_string())).collect();
    let bodies: Vec<_> = bodies
        .into_iter()
        .map(|mut b| {
            b["max_file_size"] = json!(1);
            b
        })
        .collect();
    let sizes: Vec<usize> = group(submissions(&bodies), &rules, &server).iter().map(|g| g.members.len()).collect();
    assert_eq!(sizes, [32, 8]);
}

#[test]
fn a_groups_request_has_one_test_per_run_of_each_submission() {
    let server = ServerLimits::default();
    let rules = Rules::new(&server);
    let mut bodies = vec![cpp("1"), cpp("2")];
    for body in &mut bodies {
        body["number_of_runs"] = json!(2);
        body["command_line_arguments"] = json!("x 'y z'");
        body["redirect_stderr_to_stdout"] = json!(true);
    }
    let groups = group(submissions(&bodies), &rules, &server);
    assert_eq!(groups.len(), 1);
    let job_id = token::new_job();
    let request = execute_request(&groups[0], &job_id, &rules, &server);
    assert_eq!(request.language, "cpp");
    let tests = request.tests.clone().unwrap_or_default();
    let inputs: Vec<&str> = tests.iter().map(|t| t.input.as_str()).collect();
    assert_eq!(inputs, ["1", "1", "2", "2"]);
    assert_eq!(tests[2].name, Some(format!("{} run 1", token::token(&job_id, 1))));
    assert_eq!(tests[0].expected_output.as_deref(), Some("1"));
    assert_eq!(request.checker, Some(Checker::Lines));
    assert!(!request.stop_on_first_failure, "each submission of a group is judged on its own");
    assert_eq!(request.args, Some(vec!["x".to_owned(), "y z".to_owned()]));
    assert!(request.streams.merge_stderr);
    gavel_core::request::validate(request, &server).expect("Gavel takes it");
}

#[test]
fn a_lone_submissions_runs_stop_at_the_first_failure() {
    let server = ServerLimits::default();
    let rules = Rules::new(&server);
    let mut body = cpp("1");
    body["number_of_runs"] = json!(3);
    let groups = group(submissions(&[body]), &rules, &server);
    let request = execute_request(&groups[0], &token::new_job(), &rules, &server);
    assert!(request.stop_on_first_failure);
    assert_eq!(request.tests.map(|t| t.len()), Some(3));
    assert_eq!(request.args, None);
}

#[test]
fn bytes_that_are_not_utf8_reach_gavel_as_base64_tests() {
    let item = |stdin: &[u8], expected: &[u8]| Item {
        stdin: Some(Output::encode(stdin)),
        expected_output: Some(Output::encode(expected)),
        callback_url: None,
        deleted: false,
    };
    let (input, expected, encoding) = test_data(&item(b"1 2\n", "3 é\n".as_bytes()));
    assert_eq!((input.as_str(), expected.as_deref(), encoding), ("1 2\n", Some("3 é\n"), Encoding::Utf8));
    // One side not UTF-8 puts both in base64: "MSAyCg==" is "1 2\n", "/wo=" is ff 0a.
    let (input, expected, encoding) = test_data(&item(b"1 2\n", b"\xff\n"));
    assert_eq!((input.as_str(), expected.as_deref(), encoding), ("MSAyCg==", Some("/wo="), Encoding::Base64));
    let nothing = Item { stdin: None, expected_output: None, callback_url: None, deleted: false };
    assert_eq!(test_data(&nothing), (String::new(), None, Encoding::Utf8));
}
