use gavel_core::language::{self, LanguageStatus};
use serde_json::json;

use super::*;

fn all_runtimes() -> Vec<Runtime> {
    let statuses: Vec<LanguageStatus> = language::catalogue()
        .iter()
        .map(|language| LanguageStatus { language, available: true, version: Some("tool 3.12.1".into()) })
        .collect();
    runtimes::runtimes(&statuses)
}

fn body(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn run(value: Value) -> Result<ExecuteRequest, PistonError> {
    job(&body(value), &all_runtimes(), &ServerLimits::default(), false).map(|job| job.request)
}

fn message(value: Value) -> String {
    match run(value.clone()) {
        Err(PistonError::BadRequest(message)) => message,
        other => panic!("{value} should be a 400, got {other:?}"),
    }
}

fn valid() -> Value {
    json!({"language": "python", "version": "*", "files": [{"content": "print(1)"}]})
}

fn with(extra: Value) -> Value {
    let mut value = valid();
    for (key, field) in body(extra) {
        value[key] = field;
    }
    value
}

#[test]
fn bodies_are_json_whatever_they_are_sent_as() {
    assert_eq!(parse_body(b""), Ok(Map::new()));
    assert_eq!(parse_body(b" \n"), Ok(Map::new()));
    assert_eq!(parse_body(b"[1, 2]"), Ok(Map::new()));
    assert_eq!(parse_body(br#"{"language": "c"}"#).map(|map| map.len()), Ok(1));
    for bad in [&b"{"[..], b"{\"language\": }", b"nope", b"\"python\"", b"42", b"{} trailing"] {
        let err = parse_body(bad).expect_err("not a JSON object");
        assert!(matches!(err, PistonError::MalformedJson(_)), "{err:?}");
        assert!(err.body()["stack"].as_str().is_some_and(|s| s.starts_with("SyntaxError")), "{:?}", err.body());
    }
}

#[test]
fn refusals_come_in_pistons_order_with_its_messages() {
    // Each body fixes what the one before was refused for.
    let steps = [
        (json!({}), "language is required as a string"),
        (json!({"language": 5}), "language is required as a string"),
        (json!({"language": ""}), "language is required as a string"),
        (json!({"language": "python"}), "version is required as a string"),
        (json!({"language": "python", "version": 3}), "version is required as a string"),
        (json!({"language": "python", "version": "*", "files": {"content": "x"}}), "files is required as an array"),
        (
            json!({"language": "python", "version": "*", "files": [{"content": "x"}, {"name": "b"}]}),
            "files[1].content is required as a string",
        ),
        (json!({"language": "python", "version": "*", "files": [null]}), "files[0].content is required as a string"),
        (json!({"language": "Python", "version": "*", "files": []}), "Python-* runtime is unknown"),
        (json!({"language": "python", "version": "2.7.18", "files": []}), "python-2.7.18 runtime is unknown"),
        (
            json!({"language": "python", "version": "*", "files": []}),
            "files must include at least one utf8 encoded file",
        ),
        (
            json!({"language": "python", "version": "*", "files": [{"content": "x", "encoding": "base64"}, {"content": "", "encoding": "latin1"}]}),
            "files must include at least one utf8 encoded file",
        ),
    ];
    for (value, expected) in steps {
        assert_eq!(message(value), expected);
    }
}

#[test]
fn limits_are_checked_in_pistons_order() {
    let everything_wrong = with(json!({
        "compile_memory_limit": "big", "run_memory_limit": "big", "compile_timeout": "long",
        "run_timeout": "long", "compile_cpu_time": "long", "run_cpu_time": "long",
    }));
    let order = [
        "compile_memory_limit",
        "run_memory_limit",
        "compile_timeout",
        "run_timeout",
        "compile_cpu_time",
        "run_cpu_time",
    ];
    let mut value = everything_wrong;
    for name in order {
        assert_eq!(message(value.clone()), format!("If specified, {name} must be a number"));
        value[name] = json!(null);
    }
    assert!(run(value).is_ok());
}

#[test]
fn limits_have_gavels_caps_and_pistons_messages() {
    let cases = [
        (json!({"run_timeout": 30_001}), "run_timeout cannot exceed the configured limit of 30000"),
        (json!({"compile_timeout": 30_001}), "compile_timeout cannot exceed the configured limit of 30000"),
        (json!({"run_cpu_time": 15_000.5}), "run_cpu_time cannot exceed the configured limit of 15000"),
        (json!({"compile_cpu_time": 20_001}), "compile_cpu_time cannot exceed the configured limit of 20000"),
        (
            json!({"run_memory_limit": 2_147_483_649_u64}),
            "run_memory_limit cannot exceed the configured limit of 2147483648",
        ),
        (
            json!({"compile_memory_limit": 1_073_741_825}),
            "compile_memory_limit cannot exceed the configured limit of 1073741824",
        ),
        (json!({"run_timeout": -5}), "run_timeout must be non-negative"),
        (json!({"run_memory_limit": -2}), "run_memory_limit must be non-negative"),
        (json!({"run_timeout": true}), "If specified, run_timeout must be a number"),
        (json!({"run_timeout": "3000"}), "If specified, run_timeout must be a number"),
    ];
    for (extra, expected) in cases {
        assert_eq!(message(with(extra)), expected);
    }
}

fn limits_of(extra: Value) -> LimitsInput {
    run(with(extra)).expect("valid").limits.expect("limits are always set")
}

#[test]
fn run_limits_become_gavels() {
    let defaults = limits_of(json!({}));
    assert_eq!((defaults.time_ms, defaults.wall_time_ms, defaults.memory_mb), (Some(3_000), Some(3_000), None));
    // What every client sends: the defaults, and -1 for "no memory limit" = Gavel's default.
    let clients =
        json!({"compile_timeout": 10_000, "run_timeout": 3_000, "compile_memory_limit": -1, "run_memory_limit": -1});
    assert_eq!(limits_of(clients), defaults);
    // Falsy values are absent, as in JavaScript.
    assert_eq!(limits_of(json!({"run_timeout": 0, "run_cpu_time": false, "run_memory_limit": null})), defaults);

    let set =
        limits_of(json!({"run_timeout": 1_500.2, "run_cpu_time": 700, "run_memory_limit": 100 * 1024 * 1024 + 1}));
    assert_eq!((set.time_ms, set.wall_time_ms, set.memory_mb), (Some(700), Some(1_501), Some(101)));
    // Under Gavel's minimum: clamped up, since Piston has none.
    let tiny = limits_of(json!({"run_timeout": 1, "run_cpu_time": 1, "run_memory_limit": 1}));
    let server = ServerLimits::default();
    assert_eq!(
        (tiny.time_ms, tiny.wall_time_ms, tiny.memory_mb),
        (Some(server.time_ms.min), Some(server.wall_time_ms.min), Some(server.memory_mb.min))
    );
}

#[test]
fn caps_under_pistons_defaults_clamp_instead_of_refusing() {
    let mut server = ServerLimits::default();
    server.wall_time_ms.max = 2_000;
    server.time_ms.max = 1_000;
    server.compile.wall_time_ms = 5_000;
    let runtimes = all_runtimes();
    let sent = with(json!({"compile_timeout": 10_000, "run_timeout": 3_000, "run_cpu_time": 3_000}));
    let limits = job(&body(sent), &runtimes, &server, false).expect("clients' defaults pass").request.limits;
    let limits = limits.expect("limits");
    assert_eq!((limits.wall_time_ms, limits.time_ms), (Some(2_000), Some(1_000)));
    let over = job(&body(with(json!({"run_timeout": 3_001}))), &runtimes, &server, false);
    assert_eq!(over, Err(PistonError::BadRequest("run_timeout cannot exceed the configured limit of 3000".into())));
}

#[test]
fn the_request_becomes_a_plain_gavel_run() {
    let request = run(with(json!({"language": "py3", "stdin": "abc", "args": ["1", "two"]}))).expect("valid");
    assert_eq!(request.language, "python");
    assert_eq!(request.code, "print(1)");
    assert_eq!(request.stdin.as_deref(), Some("abc\n"));
    assert_eq!(request.args, Some(vec!["1".to_owned(), "two".to_owned()]));
    assert!(request.streams.keep_order && !request.streams.merge_stderr);
    assert!(request.tests.is_none() && request.checker.is_none());
}

#[test]
fn stdin_always_ends_in_a_newline() {
    for (sent, got) in
        [(json!(null), "\n"), (json!(""), "\n"), (json!("a"), "a\n"), (json!("a\n"), "a\n"), (json!("a\n\n"), "a\n\n")]
    {
        assert_eq!(run(with(json!({"stdin": sent}))).expect("valid").stdin.as_deref(), Some(got));
    }
    assert_eq!(message(with(json!({"stdin": 5}))), "stdin must be a string");
    assert_eq!(message(with(json!({"args": "1 2"}))), "args must be an array of strings");
    assert_eq!(message(with(json!({"args": [1, 2]}))), "args must be an array of strings");
    assert_eq!(run(with(json!({"args": null}))).expect("valid").args, Some(vec![]));
}

#[test]
fn the_program_is_the_first_utf8_file_and_the_others_go_beside_it() {
    let files = json!([{"content": "", "encoding": "base64"}, {"name": "main.py", "content": "print(2)", "encoding": "utf8"}, {"content": ""}]);
    let runtimes = all_runtimes();
    let found = job(&body(with(json!({"files": files}))), &runtimes, &ServerLimits::default(), false).expect("valid");
    assert_eq!((found.places.entry, found.request.code.as_str()), (1, "print(2)"));
    let names: Vec<String> = found.request.files.iter().flatten().map(|file| file.name.clone()).collect();
    assert_eq!((names, found.places.others), (vec!["file0.code".to_owned(), "file2.code".to_owned()], vec![0, 2]));
    // An encoding job.js does not know runs as utf8.
    let files = json!([{"content": "print(3)", "encoding": "latin1"}, {"content": "", "encoding": "utf8"}]);
    assert_eq!(run(with(json!({"files": files}))).expect("valid").code, "print(3)");

    // Contents decoded as job.js decodes them, kept as bytes.
    let files = json!([
        {"content": "import util"}, {"name": "util.py", "content": "x = 1"},
        {"name": "data.bin", "content": "/w==", "encoding": "base64"}, {"name": "h.txt", "content": "6869", "encoding": "hex"},
    ]);
    let request = run(with(json!({"files": files}))).expect("valid");
    let bytes: Vec<(String, Vec<u8>)> = request
        .files
        .iter()
        .flatten()
        .map(|file| (file.name.clone(), file.bytes().expect("decodes").into_owned()))
        .collect();
    assert_eq!(
        bytes,
        [("util.py".into(), b"x = 1".to_vec()), ("data.bin".into(), vec![0xff]), ("h.txt".into(), b"hi".to_vec())]
    );
    let files = json!([{"content": "x"}, {"name": 5, "content": ""}]);
    assert_eq!(message(with(json!({"files": files}))), "files[1].name must be a string");
}

#[test]
fn names_and_versions_are_pistons() {
    let runtimes = all_runtimes();
    let found = |language: &str, version: &str, fallback| {
        let sent = with(json!({"language": language, "version": version}));
        job(&body(sent), &runtimes, &ServerLimits::default(), fallback)
            .map(|job| (job.runtime.language, job.request.language))
    };
    assert_eq!(found("c++", "3", false), Ok(("c++", "cpp".to_owned())));
    assert_eq!(found("mono-c#", "^3.12.0", false), Ok(("csharp", "csharp".to_owned())));
    assert_eq!(found("node-js", "3.12.1", false), Ok(("javascript", "javascript".to_owned())));
    assert_eq!(found("python3.12", "3.x", false), Ok(("python", "python".to_owned())));
    assert!(found("python", "3.10.0", false).is_err(), "a bare version is exact");
    assert_eq!(found("python", "3.10.0", true), Ok(("python", "python".to_owned())), "the optional fallback");
    assert!(found("cpp17", "*", true).is_err(), "Gavel's own aliases are not Piston's");
}

#[test]
fn gavels_refusals_name_pistons_fields() {
    let places = Places { entry: 1, others: vec![0, 2] };
    let empty =
        refused(RequestError::InvalidField { field: "code".into(), message: "code must not be empty".into() }, &places);
    assert_eq!(empty, PistonError::BadRequest("files[1].content: code must not be empty".into()));
    let named =
        RequestError::InvalidField { field: "files[1].name".into(), message: "files[1].name \"..\" is bad".into() };
    assert_eq!(refused(named, &places), PistonError::BadRequest("files[2].name: files[2].name \"..\" is bad".into()));
    let big = refused(RequestError::TooLarge { field: "tests[0].input".into(), limit: 4, actual: 5 }, &places);
    assert_eq!(big, PistonError::TooLarge("stdin is 5 bytes; the limit is 4".into()));
    assert_eq!(big.status(), 413);
}
