//! `POST /execute` bodies: parsing rules, defaults and validation against the server's limits.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::checker::Checker;
use crate::helper::HelperProgram;
use crate::language::{self, Language};
use crate::limits::{Limits, LimitsInput, ServerLimits};
use crate::program::{self, SourceFile};
use crate::runner::{Encoding, Streams};
use crate::scoring::{self, Group, GroupInput};

/// The most arguments a program gets, and the bytes of each.
pub const MAX_ARGS: usize = 128;
pub const MAX_ARG_BYTES: usize = 4096;

/// The request as a client sends it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecuteRequest {
    pub language: String,
    pub code: String,
    #[serde(default)]
    pub stdin: Option<String>,
    #[serde(default)]
    pub tests: Option<Vec<TestCaseInput>>,
    /// The original service's form: parallel arrays instead of `tests`.
    #[serde(default)]
    pub inputs: Option<Vec<String>>,
    #[serde(default)]
    pub outputs: Option<Vec<String>>,
    #[serde(default)]
    pub limits: Option<LimitsInput>,
    #[serde(default)]
    pub checker: Option<Checker>,
    /// An interactive problem's interactor: it talks with the program in every test.
    #[serde(default)]
    pub interactor: Option<HelperProgram>,
    #[serde(default)]
    pub stop_on_first_failure: bool,
    /// Arguments given to the program (its argv after the run command), in every test.
    #[serde(default)]
    pub args: Option<Vec<String>>,
    /// Files placed in the work dir beside the code (headers, modules, data).
    #[serde(default)]
    pub files: Option<Vec<SourceFile>>,
    /// Options for the compile step, split as a shell splits words (never run by one).
    #[serde(default)]
    pub compile_options: Option<String>,
    /// Subtasks: the tests' `group`s, each scored as a whole.
    #[serde(default)]
    pub groups: Option<Vec<GroupInput>>,
    /// Set by the rivals' APIs only: not part of Gavel's own request body.
    #[serde(skip)]
    pub streams: Streams,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCaseInput {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub input: String,
    #[serde(default)]
    pub expected_output: Option<String>,
    #[serde(default)]
    pub hidden: bool,
    /// How `input` and `expected_output` are written: UTF-8 text, or base64 for any bytes.
    #[serde(default)]
    pub encoding: Encoding,
    /// What the test is worth (default 1).
    #[serde(default)]
    pub points: Option<f64>,
    /// The name of the group (subtask) the test belongs to.
    #[serde(default)]
    pub group: Option<String>,
}

/// A valid request, with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub language: &'static Language,
    pub code: String,
    pub limits: Limits,
    pub checker: Checker,
    pub interactor: Option<HelperProgram>,
    /// A plain run is one unnamed test without an expected output.
    pub tests: Vec<TestCase>,
    pub stop_on_first_failure: bool,
    /// Bytes of output (stdout and stderr, all tests) the job may produce.
    pub output_budget_bytes: u64,
    pub args: Vec<String>,
    pub streams: Streams,
    pub files: Vec<SourceFile>,
    pub compile_options: Vec<String>,
    /// Empty unless the request has groups; then every test is in one.
    pub groups: Vec<Group>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestCase {
    pub name: Option<String>,
    pub input: String,
    /// Absent: judged by exit status alone.
    pub expected_output: Option<String>,
    pub hidden: bool,
    /// How `input` and `expected_output` hold their bytes (checked to decode at validation).
    #[serde(default, skip_serializing_if = "Encoding::is_utf8")]
    pub encoding: Encoding,
    /// What the test is worth.
    #[serde(default = "one_point")]
    pub points: f64,
}

fn one_point() -> f64 {
    1.0
}

impl TestCase {
    /// Text input, as the plain run and the original arrays give it.
    fn text(input: String, expected_output: Option<String>) -> TestCase {
        TestCase { name: None, input, expected_output, hidden: false, encoding: Encoding::Utf8, points: one_point() }
    }

    /// The bytes of the program's stdin.
    pub fn input_bytes(&self) -> Cow<'_, [u8]> {
        self.encoding.decode(&self.input).unwrap_or_default()
    }

    /// The bytes of the expected output, if the test has one.
    pub fn expected_bytes(&self) -> Option<Cow<'_, [u8]>> {
        let expected = self.expected_output.as_deref()?;
        Some(self.encoding.decode(expected).unwrap_or_default())
    }
}

/// Why a request was refused. Each maps to one HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("unknown language {given:?}; valid ids: {}", valid.join(", "))]
    UnknownLanguage { given: String, valid: Vec<&'static str> },
    #[error("{message}")]
    InvalidField { field: String, message: String },
    #[error("{field} is {actual} bytes; the limit is {limit}")]
    TooLarge { field: String, limit: usize, actual: usize },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> RequestError {
    RequestError::InvalidField { field: field.into(), message: message.into() }
}

fn check_size(field: impl Into<String>, text: &str, limit: usize) -> Result<(), RequestError> {
    if text.len() > limit {
        return Err(RequestError::TooLarge { field: field.into(), limit, actual: text.len() });
    }
    Ok(())
}

/// Test data decodes in its encoding, and its bytes are within `limit`.
fn check_data(field: String, encoding: Encoding, text: &str, limit: usize) -> Result<(), RequestError> {
    let Some(bytes) = encoding.decode(text) else {
        let message = format!("{field} is not valid base64 (RFC 4648, with padding)");
        return Err(invalid(field, message));
    };
    if bytes.len() > limit {
        return Err(RequestError::TooLarge { field, limit, actual: bytes.len() });
    }
    Ok(())
}

/// Validates a request and applies the server's defaults.
pub fn validate(req: ExecuteRequest, server: &ServerLimits) -> Result<Submission, RequestError> {
    let language = language::find(&req.language)
        .ok_or_else(|| RequestError::UnknownLanguage { given: req.language.clone(), valid: language::ids() })?;
    if req.code.trim().is_empty() {
        return Err(invalid("code", "code must not be empty"));
    }
    check_size("code", &req.code, server.max_code_bytes)?;
    if req.code.contains('\0') {
        return Err(invalid("code", "code must not contain NUL bytes"));
    }

    let limits_input = req.limits.unwrap_or_default();
    let out_of_range = |err: crate::limits::LimitOutOfRange| invalid(format!("limits.{}", err.field), err.to_string());
    let limits = server.resolve(&limits_input).map_err(out_of_range)?;
    let output_budget_bytes = server.resolve_output_budget(&limits_input).map_err(out_of_range)?;
    let checker = match req.checker.unwrap_or_default() {
        Checker::Custom(program) => Checker::Custom(program.validate("checker", language, server)?),
        checker => {
            checker.validate().map_err(|(field, message)| invalid(field, message))?;
            checker
        }
    };
    let interactor = req.interactor.map(|program| program.validate("interactor", language, server)).transpose()?;

    let args = req.args.unwrap_or_default();
    check_args(&args)?;
    let files = req.files.unwrap_or_default();
    program::check_files("files", &files, language, server.max_files_bytes)?;
    let compile_options =
        program::split_compile_options("compile_options", req.compile_options.as_deref().unwrap_or(""), language)?;
    let (tests, test_groups) = collect_tests(req.stdin, req.tests, req.inputs, req.outputs)?;
    if tests.len() > server.max_tests {
        return Err(invalid("tests", format!("at most {} tests, got {}", server.max_tests, tests.len())));
    }
    for (i, test) in tests.iter().enumerate() {
        check_data(format!("tests[{i}].input"), test.encoding, &test.input, server.max_io_bytes)?;
        if let Some(expected) = &test.expected_output {
            check_data(format!("tests[{i}].expected_output"), test.encoding, expected, server.max_io_bytes)?;
        }
        if test.name.as_ref().is_some_and(|n| n.len() > 200) {
            return Err(invalid(format!("tests[{i}].name"), "test names are at most 200 bytes"));
        }
        scoring::check_points(&format!("tests[{i}].points"), test.points)?;
    }
    let points: Vec<f64> = tests.iter().map(|test| test.points).collect();
    let groups = scoring::resolve_groups(req.groups.unwrap_or_default(), &test_groups, &points)?;

    Ok(Submission {
        language,
        code: req.code,
        limits,
        checker,
        interactor,
        tests,
        stop_on_first_failure: req.stop_on_first_failure,
        output_budget_bytes,
        args,
        streams: req.streams,
        files,
        compile_options,
        groups,
    })
}

/// Arguments are C strings of bounded number and size.
fn check_args(args: &[String]) -> Result<(), RequestError> {
    if args.len() > MAX_ARGS {
        return Err(invalid("args", format!("at most {MAX_ARGS} arguments, got {}", args.len())));
    }
    for (i, arg) in args.iter().enumerate() {
        if arg.len() > MAX_ARG_BYTES {
            return Err(invalid(format!("args[{i}]"), format!("an argument is at most {MAX_ARG_BYTES} bytes")));
        }
        if arg.contains('\0') {
            return Err(invalid(format!("args[{i}]"), "arguments must not contain NUL bytes"));
        }
    }
    Ok(())
}

/// One list of tests from `stdin`, `tests`, or the original `inputs`/`outputs` arrays, with
/// the group each test names.
fn collect_tests(
    stdin: Option<String>,
    tests: Option<Vec<TestCaseInput>>,
    inputs: Option<Vec<String>>,
    outputs: Option<Vec<String>>,
) -> Result<(Vec<TestCase>, Vec<Option<String>>), RequestError> {
    if tests.is_some() && (inputs.is_some() || outputs.is_some()) {
        return Err(invalid("tests", "give either tests or inputs/outputs, not both"));
    }
    let (tests, groups): (Vec<TestCase>, Vec<Option<String>>) = match (tests, inputs, outputs) {
        (Some(tests), _, _) => tests
            .into_iter()
            .map(|t| {
                let case = TestCase {
                    name: t.name,
                    input: t.input,
                    expected_output: t.expected_output,
                    hidden: t.hidden,
                    encoding: t.encoding,
                    points: t.points.unwrap_or_else(one_point),
                };
                (case, t.group)
            })
            .unzip(),
        (None, Some(inputs), outputs) => {
            if let Some(outputs) = &outputs
                && outputs.len() != inputs.len()
            {
                return Err(invalid(
                    "outputs",
                    format!("outputs has {} entries but inputs has {}", outputs.len(), inputs.len()),
                ));
            }
            let mut outputs = outputs.map(Vec::into_iter);
            inputs
                .into_iter()
                .map(|input| (TestCase::text(input, outputs.as_mut().and_then(Iterator::next)), None))
                .unzip()
        }
        (None, None, Some(_)) => return Err(invalid("inputs", "outputs needs inputs of the same length")),
        (None, None, None) => (Vec::new(), Vec::new()),
    };
    if tests.is_empty() {
        return Ok((vec![TestCase::text(stdin.unwrap_or_default(), None)], vec![None]));
    }
    if stdin.is_some() {
        return Err(invalid("stdin", "stdin is for a plain run; give each test its own input"));
    }
    Ok((tests, groups))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::GroupScoring;
    use proptest::prelude::*;

    fn request(json: serde_json::Value) -> ExecuteRequest {
        serde_json::from_value(json).expect("request shape")
    }

    #[test]
    fn base64_tests_carry_any_bytes_to_the_runner_and_are_measured_decoded() {
        let server = ServerLimits { max_io_bytes: 2, ..ServerLimits::default() };
        let body = |input: &str| {
            request(serde_json::json!({"language": "py", "code": "x", "tests": [
                {"input": input, "expected_output": "/w==", "encoding": "base64"}]}))
        };
        // Four base64 characters, two bytes: within a two-byte cap.
        let sub = validate(body("//4="), &server).expect("valid");
        assert_eq!(sub.tests[0].expected_bytes().as_deref(), Some(b"\xff".as_slice()));
        let (bundle, _) = crate::judge::split(sub.clone(), crate::job::JobId::new(), sub.limits);
        assert_eq!(bundle.tests[0].input_bytes().as_deref(), Some(b"\xff\xfe".as_slice()));
        let err = validate(body("not base64!"), &server).expect_err("refused");
        assert_eq!(err.to_string(), "tests[0].input is not valid base64 (RFC 4648, with padding)");
        let err = validate(body("AAAA"), &server).expect_err("refused");
        assert!(matches!(err, RequestError::TooLarge { actual: 3, .. }), "{err:?}");
    }

    #[test]
    fn plain_run_becomes_one_test_with_stdin() {
        let sub = validate(
            request(serde_json::json!({"language": "py", "code": "print(input())", "stdin": "hi\n"})),
            &ServerLimits::default(),
        )
        .expect("valid");
        assert_eq!(sub.language.id, "python");
        assert_eq!(sub.tests, vec![TestCase::text("hi\n".into(), None)]);
        assert_eq!(sub.checker, Checker::Lines);
    }

    #[test]
    fn args_are_bounded_c_strings_and_reach_the_submission() {
        let server = ServerLimits::default();
        let with_args = |args: serde_json::Value| {
            validate(request(serde_json::json!({"language": "py", "code": "x", "args": args})), &server)
        };
        assert_eq!(with_args(serde_json::json!(["1", "two words"])).expect("valid").args, ["1", "two words"]);
        let field_of = |err: RequestError| match err {
            RequestError::InvalidField { field, .. } => field,
            other => panic!("expected an invalid field, got {other:?}"),
        };
        let too_many: Vec<String> = (0..=MAX_ARGS).map(|i| i.to_string()).collect();
        assert_eq!(field_of(with_args(serde_json::json!(too_many)).expect_err("too many")), "args");
        assert_eq!(field_of(with_args(serde_json::json!(["ok", "a\u{0}b"])).expect_err("NUL")), "args[1]");
        let long = "x".repeat(MAX_ARG_BYTES + 1);
        assert_eq!(field_of(with_args(serde_json::json!([long])).expect_err("too long")), "args[0]");
    }

    #[test]
    fn files_compile_options_and_groups_reach_the_submission() {
        let sub = validate(
            request(serde_json::json!({
                "language": "cpp", "code": "x",
                "files": [{"name": "lib.h", "content": "int f();"}, {"name": "data.bin", "content": "/w==", "encoding": "base64"}],
                "compile_options": "-DONLINE_JUDGE -O3",
                "tests": [{"input": "1", "group": "a"}, {"input": "2", "points": 2.5, "group": "b"}],
                "groups": [{"name": "a", "points": 10}, {"name": "b", "scoring": "min", "depends_on": ["a"]}],
            })),
            &ServerLimits::default(),
        )
        .expect("valid");
        assert_eq!(sub.files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["lib.h", "data.bin"]);
        assert_eq!(sub.files[1].bytes().as_deref(), Some(b"\xff".as_slice()));
        assert_eq!(sub.compile_options, ["-DONLINE_JUDGE", "-O3"]);
        assert_eq!(sub.tests.iter().map(|t| t.points).collect::<Vec<_>>(), [1.0, 2.5]);
        let groups: Vec<_> =
            sub.groups.iter().map(|g| (g.points, g.scoring, g.depends_on.clone(), g.tests.clone())).collect();
        assert_eq!(
            groups,
            [(10.0, GroupScoring::AllOrNothing, vec![], vec![0]), (2.5, GroupScoring::Min, vec![0], vec![1])]
        );
        let (bundle, spec) = crate::judge::split(sub.clone(), crate::job::JobId::new(), sub.limits);
        assert_eq!(
            (bundle.files, bundle.compile_options, &bundle.groups),
            (sub.files, sub.compile_options, &spec.groups)
        );
    }

    #[test]
    fn bad_files_options_and_points_name_their_field() {
        let field_of = |body: serde_json::Value| match validate(request(body), &ServerLimits::default()) {
            Err(RequestError::InvalidField { field, .. }) => field,
            other => panic!("expected an invalid field, got {other:?}"),
        };
        let with = |extra: serde_json::Value| {
            let mut body = serde_json::json!({"language": "c", "code": "x"});
            body.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
            body
        };
        assert_eq!(field_of(with(serde_json::json!({"files": [{"name": "../x", "content": ""}]}))), "files[0].name");
        assert_eq!(field_of(with(serde_json::json!({"compile_options": "'open"}))), "compile_options");
        assert_eq!(
            field_of(serde_json::json!({"language": "py", "code": "x", "compile_options": "-O"})),
            "compile_options"
        );
        assert_eq!(field_of(with(serde_json::json!({"tests": [{"input": "", "points": -1}]}))), "tests[0].points");
        assert_eq!(field_of(with(serde_json::json!({"tests": [{"input": "", "group": "g"}]}))), "tests[0].group");
    }

    #[test]
    fn streams_are_not_part_of_the_request_body() {
        let parsed: ExecuteRequest = serde_json::from_value(
            serde_json::json!({"language": "py", "code": "x", "streams": {"merge_stderr": true}}),
        )
        .expect("unknown top-level keys are ignored");
        assert_eq!(parsed.streams, Streams::default());
    }

    #[test]
    fn original_inputs_and_outputs_alias_tests() {
        let sub = validate(
            request(serde_json::json!({"language": "cpp", "code": "x", "inputs": ["1", "2"], "outputs": ["a", "b"]})),
            &ServerLimits::default(),
        )
        .expect("valid");
        assert_eq!(sub.tests.len(), 2);
        assert_eq!(sub.tests[1].expected_output.as_deref(), Some("b"));
    }

    #[test]
    fn mismatched_outputs_name_the_field() {
        let err = validate(
            request(serde_json::json!({"language": "cpp", "code": "x", "inputs": ["1"], "outputs": []})),
            &ServerLimits::default(),
        )
        .expect_err("mismatch");
        assert!(matches!(err, RequestError::InvalidField { ref field, .. } if field == "outputs"));
    }

    #[test]
    fn unknown_language_lists_valid_ids() {
        let err = validate(request(serde_json::json!({"language": "cobol", "code": "x"})), &ServerLimits::default())
            .expect_err("unknown");
        assert!(err.to_string().contains("python") && err.to_string().contains("csharp"));
    }

    #[test]
    fn oversized_code_is_too_large() {
        let server = ServerLimits { max_code_bytes: 10, ..ServerLimits::default() };
        let err = validate(request(serde_json::json!({"language": "c", "code": "int main(){}//"})), &server)
            .expect_err("too large");
        assert!(matches!(err, RequestError::TooLarge { ref field, .. } if field == "code"));
    }

    #[test]
    fn stdin_with_tests_is_refused() {
        let err = validate(
            request(serde_json::json!({"language": "c", "code": "x", "stdin": "1", "tests": [{"input": "2"}]})),
            &ServerLimits::default(),
        )
        .expect_err("ambiguous");
        assert!(matches!(err, RequestError::InvalidField { ref field, .. } if field == "stdin"));
    }

    #[test]
    fn unknown_limit_fields_are_refused_at_parse_time() {
        let parsed = serde_json::from_value::<ExecuteRequest>(
            serde_json::json!({"language": "c", "code": "x", "limits": {"time_limit": 5}}),
        );
        assert!(parsed.is_err());
    }

    proptest! {
        #[test]
        fn valid_requests_keep_every_test(n in 1usize..20, hidden in any::<bool>(), lang in prop::sample::select(vec!["python", "js", "c++", "c", "c#"])) {
            let tests: Vec<_> = (0..n).map(|i| serde_json::json!({"input": i.to_string(), "expected_output": i.to_string(), "hidden": hidden})).collect();
            let sub = validate(request(serde_json::json!({"language": lang, "code": "x", "tests": tests})), &ServerLimits::default());
            let sub = sub.expect("valid");
            prop_assert_eq!(sub.tests.len(), n);
            prop_assert!(sub.tests.iter().all(|t| t.hidden == hidden && t.expected_output.as_deref() == Some(t.input.as_str())));
        }

        #[test]
        fn too_many_tests_are_refused(extra in 1usize..5) {
            let server = ServerLimits::default();
            let tests: Vec<_> = (0..server.max_tests + extra).map(|_| serde_json::json!({"input": ""})).collect();
            let err = validate(request(serde_json::json!({"language": "c", "code": "x", "tests": tests})), &server);
            let refused_tests = matches!(err, Err(RequestError::InvalidField { ref field, .. }) if field == "tests");
            prop_assert!(refused_tests);
        }
    }
}
