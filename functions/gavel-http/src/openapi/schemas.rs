//! The document's schemas: the request, the result and the other bodies.

use serde_json::{Value, json};

use super::{checker_mode, described, nullable, schema, string_list, timestamp};
use crate::error::CODES;

pub(super) fn schemas() -> Value {
    json!({
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": { "type": "string", "enum": CODES },
                        "message": { "type": "string", "description": "A human sentence" },
                        "field": {
                            "type": "string",
                            "description": "The offending field, e.g. limits.time_ms or tests[2].input"
                        },
                        "limit": { "type": "integer", "description": "The size limit, in bytes" },
                        "actual": { "type": "integer" },
                        "valid": described(string_list(), "The valid language ids"),
                        "language": { "type": "string" },
                        "available": described(string_list(), "The languages this deployment can run"),
                        "capacity": { "type": "integer" },
                        "service": { "type": "string" },
                        "retry_after": { "type": "integer" }
                    },
                    "additionalProperties": true
                }
            }
        },
        "ExecuteRequest": {
            "type": "object",
            "required": ["language", "code"],
            "properties": {
                "language": { "type": "string", "description": "An id or alias from GET /languages" },
                "code": { "type": "string" },
                "stdin": { "type": "string", "description": "Input of a plain run, without tests" },
                "tests": { "type": "array", "items": schema("TestCase") },
                "inputs": described(string_list(), "The original service's form of tests: inputs..."),
                "outputs": described(string_list(), "...and their expected outputs, in the same order"),
                "limits": schema("Limits"),
                "checker": schema("Checker"),
                "interactor": schema("Interactor"),
                "stop_on_first_failure": { "type": "boolean", "default": false },
                "args": {
                    "type": "array",
                    "maxItems": gavel_core::request::MAX_ARGS,
                    "items": { "type": "string", "maxLength": gavel_core::request::MAX_ARG_BYTES },
                    "description": "Arguments given to the program in every test (its argv after the run command)."
                },
                "files": {
                    "type": "array",
                    "maxItems": gavel_core::program::MAX_FILES,
                    "items": schema("SourceFile"),
                    "description": "Files placed in the work dir beside the code: headers, modules, data. Their \
                                    decoded sizes together are capped by the server (1 MiB by default)."
                },
                "compile_options": {
                    "type": "string",
                    "maxLength": gavel_core::program::MAX_COMPILE_OPTIONS_CHARS,
                    "description": "Options for the compile step, split into words as a shell splits them (quotes, \
                                    backslashes) but never run by one, and given just before the source file \
                                    (`g++ … -o main <options> main.cpp`). The compile step is sandboxed like \
                                    every run. Refused for a language without a compile step."
                },
                "groups": {
                    "type": "array",
                    "items": schema("Group"),
                    "description": "Subtasks. With groups, every test names one (tests[].group); a group depends \
                                    only on groups listed before it."
                }
            }
        },
        "SourceFile": {
            "type": "object",
            "required": ["name", "content"],
            "additionalProperties": false,
            "properties": {
                "name": {
                    "type": "string",
                    "maxLength": gavel_core::program::MAX_FILE_NAME_BYTES,
                    "description": "A plain file name: no '/', no leading '.', no control characters, not the \
                                    language's source file (main.cpp, Main.java, …)"
                },
                "content": { "type": "string" },
                "encoding": { "type": "string", "enum": ["utf8", "base64"], "default": "utf8" }
            }
        },
        "Group": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": false,
            "properties": {
                "name": { "type": "string", "maxLength": gavel_core::scoring::MAX_GROUP_NAME_BYTES },
                "points": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": gavel_core::scoring::MAX_POINTS,
                    "description": "Default: the sum of its tests' points"
                },
                "scoring": {
                    "type": "string",
                    "enum": ["all_or_nothing", "sum", "min"],
                    "default": "all_or_nothing",
                    "description": "all_or_nothing: the group's points only if every test passes, and the tests \
                                    after the first failure are skipped; sum: the tests' scores scaled to the \
                                    group's points; min: the worst test's fraction (score / points) of them"
                },
                "depends_on": {
                    "type": "array",
                    "items": { "type": "string" },
                    "description": "Groups (listed before this one) that must pass, every test accepted, for this \
                                    one to run; otherwise its tests are skipped"
                }
            }
        },
        "GroupResult": {
            "type": "object",
            "required": ["name", "score", "max_score", "verdict"],
            "properties": {
                "name": { "type": "string" },
                "score": { "type": "number" },
                "max_score": { "type": "number" },
                "verdict": described(schema("Verdict"), "accepted when every test passed, skipped when a dependency \
                                                         did not pass, else the first failing test's verdict")
            }
        },
        "TestCase": {
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "name": { "type": "string" },
                "input": { "type": "string", "default": "" },
                "expected_output": { "type": "string", "description": "Absent: judged by exit status alone" },
                "hidden": {
                    "type": "boolean",
                    "default": false,
                    "description": "Input, expected output and program output are never shown"
                },
                "encoding": {
                    "type": "string",
                    "enum": ["utf8", "base64"],
                    "default": "utf8",
                    "description": "How input and expected_output are written: text, or base64 (RFC 4648, padded) for any bytes; size limits count the decoded bytes"
                },
                "points": { "type": "number", "minimum": 0, "maximum": gavel_core::scoring::MAX_POINTS, "default": 1 },
                "group": { "type": "string", "description": "The name of its group, required when there are groups" }
            }
        },
        "Limits": {
            "type": "object",
            "additionalProperties": false,
            "description": "Each optional, defaulted and capped by the server's maxima",
            "properties": {
                "time_ms": { "type": "integer", "minimum": 0, "description": "CPU time" },
                "wall_time_ms": { "type": "integer", "minimum": 0 },
                "memory_mb": { "type": "integer", "minimum": 0 },
                "output_kb": { "type": "integer", "minimum": 0, "description": "Cap on stdout and on stderr, each" },
                "processes": { "type": "integer", "minimum": 0 },
                "job_output_kb": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "The whole job's output budget: stdout and stderr of every test together; \
                                    a test that writes past what is left of it is output_limit_exceeded"
                }
            }
        },
        "Checker": {
            "oneOf": [
                checker_mode("exact"),
                checker_mode("lines"),
                checker_mode("tokens"),
                {
                    "type": "object", "required": ["mode"], "additionalProperties": false,
                    "properties": {
                        "mode": { "const": "float" },
                        "abs": { "type": "number", "minimum": 0, "default": 1e-6 },
                        "rel": { "type": "number", "minimum": 0, "default": 1e-6 }
                    }
                },
                {
                    "type": "object", "required": ["mode", "language", "code"], "additionalProperties": false,
                    "description": "The problem's own checker, testlib's protocol. Compiled once per job, in a \
                                    sandbox of its own, and run after the solution's runs are over (its processes \
                                    gone) on every test the solution ended well, as `checker input output answer` \
                                    (the test's input, the program's stdout, the expected output, empty when the \
                                    test has none; read-only files at /dev/fd/3, 4, 5). Exit code 0 accepted; 1, 2 \
                                    (presentation error) and 8 (unexpected end of output) wrong_answer; 7 partial \
                                    points, read from the `points x` line testlib's quitp writes on stderr, \
                                    0 ≤ x ≤ the test's points (partially_accepted in between); 3, any other code, \
                                    a crash, a limit or a checker that does not compile: internal_error. Its \
                                    stderr (the first 4 KiB) is the test's checker_message. Limits: at least 5 s \
                                    CPU, 10 s wall and 256 MB, or the solution's if more.",
                    "properties": {
                        "mode": { "const": "custom" },
                        "language": {
                            "type": "string",
                            "description": "c, cpp, python (every runner carries them), or the solution's own"
                        },
                        "code": { "type": "string" },
                        "files": {
                            "type": "array",
                            "items": schema("SourceFile"),
                            "description": "Beside the checker's code: testlib.h (as Polygon packages ship it), headers"
                        }
                    }
                }
            ],
            "discriminator": { "propertyName": "mode" }
        },
        "Interactor": {
            "type": "object", "required": ["language", "code"], "additionalProperties": false,
            "description": "An interactive problem's interactor, testlib's protocol. Compiled once per job in a \
                            sandbox of its own; in every test it runs beside the solution (each in its own \
                            sandbox), the solution's stdout piped straight to its stdin and its stdout to the \
                            solution's stdin, as `interactor input output answer` (the test's input, the output \
                            file it writes, the expected output or empty; at /dev/fd/3, 4, 5). The output file is \
                            then the test's output: judged by the checker (a custom one reads it as the program's \
                            output), and shown as the test's stdout. Verdicts: the solution's own limits first (a \
                            solution that waits forever is time_limit_exceeded), then the interactor's exit code \
                            as a checker's (a solution that dies after the interactor rejected it gets the \
                            interactor's wrong_answer), then the solution's exit, then the checker. Time and \
                            memory are the solution's; the interactor has a checker's limits, and outlives the \
                            solution's wall time by 5 s. The runner reads an interactive problem's judge data \
                            (interactor, answers) before the first test, and gives it to the interactor's sandbox \
                            alone.",
            "properties": {
                "language": {
                    "type": "string",
                    "description": "c, cpp, python (every runner carries them), or the solution's own"
                },
                "code": { "type": "string" },
                "files": { "type": "array", "items": schema("SourceFile"), "description": "testlib.h, headers" }
            }
        },
        "Accepted": {
            "type": "object",
            "required": ["job_id", "status", "result_url"],
            "properties": {
                "job_id": { "type": "string", "format": "uuid" },
                "status": { "const": "pending" },
                "result_url": { "type": "string" }
            }
        },
        "Verdict": {
            "type": "string",
            "enum": [
                "accepted", "partially_accepted", "wrong_answer", "time_limit_exceeded", "memory_limit_exceeded",
                "output_limit_exceeded", "runtime_error", "compilation_error", "internal_error", "skipped"
            ]
        },
        "Job": {
            "type": "object",
            "required": ["job_id", "status", "language", "created_at", "started_at", "finished_at", "expires_at"],
            "properties": {
                "job_id": { "type": "string", "format": "uuid" },
                "status": { "type": "string", "enum": ["pending", "running", "completed", "failed"] },
                "language": { "type": "string" },
                "created_at": timestamp(false),
                "started_at": timestamp(true),
                "finished_at": timestamp(true),
                "expires_at": timestamp(false),
                "verdict": schema("Verdict"),
                "compile": { "oneOf": [schema("CompileResult"), { "type": "null" }] },
                "tests": { "type": "array", "items": schema("TestResult") },
                "summary": {
                    "type": "object",
                    "required": ["passed", "total"],
                    "properties": { "passed": { "type": "integer" }, "total": { "type": "integer" } }
                },
                "isolation": schema("Isolation"),
                "score": {
                    "type": "number",
                    "description": "Points scored: the groups' where there are groups, else the passed tests'"
                },
                "max_score": { "type": "number" },
                "groups": { "type": "array", "items": schema("GroupResult"), "description": "Present with groups" },
                "error": described(json!({ "type": "string" }), "Why the platform could not finish the job (failed)")
            }
        },
        "CompileResult": {
            "type": "object",
            "properties": {
                "output": { "type": "string" },
                "output_encoding": schema("Encoding"),
                "exit_code": nullable("integer"),
                "time_ms": { "type": "integer", "description": "CPU time" },
                "wall_time_ms": { "type": "integer" },
                "memory_kb": { "type": "integer" },
                "signal": nullable("integer"),
                "limit": {
                    "type": ["string", "null"],
                    "enum": ["cpu_time", "wall_time", "memory", "output", null],
                    "description": "The server's compile limit that stopped the compiler, if one did"
                }
            }
        },
        "TestResult": {
            "type": "object",
            "properties": {
                "name": nullable("string"),
                "verdict": schema("Verdict"),
                "time_ms": { "type": "integer", "description": "CPU time" },
                "wall_time_ms": { "type": "integer" },
                "memory_kb": {
                    "type": "integer",
                    "description": "The program's own peak memory: its largest process's peak resident set, the same \
                                    whatever the limit (page cache is not counted); over the limit is \
                                    memory_limit_exceeded"
                },
                "exit_code": nullable("integer"),
                "signal": nullable("integer"),
                "stdout": { "type": "string" },
                "stdout_encoding": schema("Encoding"),
                "stderr": { "type": "string" },
                "stderr_encoding": schema("Encoding"),
                "truncated": { "type": "boolean" },
                "limit": { "type": ["string", "null"], "enum": ["cpu_time", "wall_time", "memory", "output", null] },
                "score": {
                    "type": "number",
                    "description": "Its points if it passed, else 0; a custom checker's partial points in between"
                },
                "checker_message": {
                    "type": "string",
                    "description": "What a custom checker said of the output (its stderr, capped at 4 KiB), or why \
                                    it could not judge it; visible tests only"
                },
                "max_score": { "type": "number", "description": "What the test is worth" },
                "hidden": { "type": "boolean" },
                "input": { "type": "string", "description": "Visible tests only" },
                "expected_output": { "type": "string", "description": "Visible tests only" },
                "encoding": {
                    "type": "string",
                    "enum": ["base64"],
                    "description": "Present when input and expected_output are base64, as the request gave them"
                }
            }
        },
        "Encoding": {
            "type": "string",
            "enum": ["utf8", "base64"],
            "description": "How the output before it holds the program's bytes: as UTF-8 text, or base64 \
                            (RFC 4648) where the bytes are not UTF-8 or JSON would store them larger"
        },
        "Isolation": {
            "type": "object",
            "properties": {
                "level": {
                    "type": "string",
                    "enum": ["insecure", "container", "full"],
                    "description": "full: namespaces, a cgroup, seccomp and a uid of the program's own; container: \
                                    the container or task around the runner is the boundary, and inside it the \
                                    program still gets a uid, files and a tmp dir of its own per test; insecure: \
                                    the program may reach the runner"
                },
                "namespaces": string_list(),
                "cgroup": nullable("string"),
                "seccomp": { "type": "boolean" },
                "uid_drop": { "type": "boolean" },
                "pivot_root": { "type": "boolean" },
                "landlock": { "type": "boolean", "description": "Landlock keeps the program's writes in its own dirs" },
                "notes": string_list()
            }
        },
        "IsolationPolicy": {
            "type": "string",
            "enum": ["full", "container", "insecure"],
            "description": "The least isolation this deployment runs a program under (--isolation); it refuses to \
                            start where that cannot be had"
        },
        "Language": {
            "type": "object",
            "required": ["id", "aliases", "name", "version", "available", "compiled", "extensions"],
            "properties": {
                "id": { "type": "string" },
                "aliases": string_list(),
                "name": { "type": "string" },
                "version": nullable("string"),
                "available": { "type": "boolean" },
                "compiled": { "type": "boolean" },
                "extensions": string_list()
            }
        },
        "Health": {
            "type": "object",
            "required": ["status", "version", "isolation", "policy", "queue_depth"],
            "properties": {
                "status": { "const": "ok" },
                "version": { "type": "string" },
                "isolation": schema("Isolation"),
                "policy": schema("IsolationPolicy"),
                "queue_depth": { "type": "integer" }
            }
        }
    })
}
