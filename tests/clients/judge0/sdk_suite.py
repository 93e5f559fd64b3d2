"""Drives a Gavel server's Judge0 API with the real Judge0 Python SDK (judge0==0.0.8), exactly as
a Judge0 user would: judge0.Client(url), judge0.run(...), aliases and integer ids, test_cases.

    python sdk_suite.py BASE_URL AVAILABLE_IDS [--quick] < programs.json

BASE_URL is the Judge0 API's root (http://127.0.0.1:2358 or http://host/judge0). AVAILABLE_IDS is
the comma-separated Judge0 ids this deployment must serve; every other Gavel id must be refused.
programs.json maps each Gavel language to its matrix programs (tests/it/languages.rs). Optional
env JUDGE0_HEADERS: JSON headers for the client (an auth token). Exits non-zero with a message on
the first check that fails.
"""

import base64
import json
import os
import sys
import time

import judge0
from judge0 import Status, Submission

# Every Judge0 id Gavel runs, and the Gavel language behind it.
GAVEL_IDS = {
    46: "bash", 48: "c", 49: "c", 50: "c", 51: "csharp", 52: "cpp", 53: "cpp", 54: "cpp",
    60: "go", 62: "java", 63: "javascript", 71: "python", 72: "ruby", 73: "rust", 74: "typescript",
}


def check(condition, what, submission=None):
    if not condition:
        detail = ""
        if submission is not None:
            detail = (f"\n  status={submission.status!r} stdout={submission.stdout!r} stderr={submission.stderr!r}"
                      f" compile_output={submission.compile_output!r} message={submission.message!r}"
                      f" exit_code={submission.exit_code!r} time={submission.time!r} memory={submission.memory!r}")
        sys.exit(f"FAILED: {what}{detail}")
    print(f"ok: {what}", flush=True)


def message(submission):
    """The SDK leaves `message` as sent: base64, since it asks with base64_encoded=true."""
    return base64.b64decode(submission.message).decode() if submission.message else None


def main():
    base, ids = sys.argv[1], {int(i) for i in sys.argv[2].split(",") if i}
    quick = "--quick" in sys.argv[3:]
    programs = json.load(sys.stdin)
    headers = json.loads(os.environ.get("JUDGE0_HEADERS", "{}"))
    started = time.monotonic()

    client = judge0.Client(base, headers=headers)
    served = {language.id for language in client.languages}
    check(served == ids, f"GET /languages serves exactly the available ids {sorted(ids)} (got {sorted(served)})")
    check(client.config.max_submission_batch_size >= 2, "GET /config_info parsed by the SDK's Config model")

    # A language alias: the SDK asks GET /about for the version, then maps PYTHON to 71.
    r = judge0.run(client=client, language=judge0.PYTHON, source_code="print(input()[::-1])",
                   stdin="abc def", expected_output="fed cba")
    check(r.status == Status.ACCEPTED and r.stdout == "fed cba\n", "alias judge0.PYTHON: accepted", r)
    check(isinstance(r.time, float) and r.memory and r.memory > 0, "time in seconds and memory in KB", r)

    r = judge0.run(client=client, language=71, source_code=programs["python"]["sum"], stdin="2 2",
                   expected_output="5")
    check(r.status == Status.WRONG_ANSWER and r.stdout == "4\n", "integer id 71: wrong answer", r)

    # Several test cases: the SDK's batch path; Gavel compiles the C++ once for all three.
    rs = judge0.run(client=client, language=judge0.CPP, source_code=programs["cpp"]["sum"],
                    test_cases=[("1 2", "3"), ("40 2", "42"), ("2 2", "5")])
    check([x.status for x in rs] == [Status.ACCEPTED, Status.ACCEPTED, Status.WRONG_ANSWER],
          "test_cases through the batch: accepted, accepted, wrong answer", rs[-1])

    r = judge0.run(client=client, language=71, source_code=programs["python"]["exit_3"])
    check(r.status == Status.RUNTIME_ERROR_NZEC and r.exit_code == 3
          and message(r) == "Exited with error status 3", "exit 3: NZEC with its exit status", r)
    if quick:
        print(f"quick suite passed in {time.monotonic() - started:.1f}s")
        return

    r = judge0.run(client=client, language=71, source_code=programs["python"]["busy_loop"],
                   cpu_time_limit=1, wall_time_limit=5)
    check(r.status == Status.TIME_LIMIT_EXCEEDED and message(r) == "Time limit exceeded"
          and r.time >= 1.0, "busy loop: time limit exceeded", r)

    r = judge0.run(client=client, language=54, source_code=programs["cpp"]["compile_error"])
    check(r.status == Status.COMPILATION_ERROR and "undeclared_name" in (r.compile_output or "")
          and r.time is None and r.stdout is None, "compile error: status 6 with the compiler's output", r)

    r = judge0.run(client=client, language=50, source_code=programs["c"]["memory_hog"], memory_limit=65536)
    check(r.status == Status.RUNTIME_ERROR_NZEC and r.exit_code == 137
          and message(r) == "Exited with error status 137", "memory hog: NZEC, exit 137, as Judge0 shows an OOM", r)

    text = "héllo wörld ✓ ünïcødé\nzweite Zeile — 第二行\n"
    r = judge0.run(client=client, language=71, source_code=programs["python"]["echo"], stdin=text,
                   expected_output=text)
    check(r.status == Status.ACCEPTED and r.stdout == text, "non-ASCII stdin and expected output", r)

    r = judge0.run(client=client, language=71,
                   source_code="import sys\nsys.stdout.buffer.write(b'\\xff\\xfe bytes\\n')")
    check(r.status == Status.ACCEPTED and r.stdout == "\\xff\\xfe bytes\n",
          "output that is not UTF-8 arrives base64 (the SDK shows it backslash-escaped)", r)

    # Bytes that are not UTF-8 in stdin and expected output. The SDK's model takes only text, so
    # the submission is built past its validation; the SDK's own body encoding base64s bytes.
    raw = b"\xff\xfe caf\xe9\n"
    for expected, status in [(raw, Status.ACCEPTED), (b"\xff\xfd caf\xe9\n", Status.WRONG_ANSWER)]:
        s = Submission.model_construct(source_code=programs["c"]["echo"], language=50, stdin=raw,
                                       expected_output=expected)
        r = judge0.run(client=client, submissions=s)
        check(r.status == status and r.stdout == "\\xff\\xfe caf\\xe9\n",
              f"stdin and expected output that are not UTF-8: {status.name}", r)

    # Every language this deployment runs, through every id (all three GCC ids for C and C++),
    # in one batch call; ids beyond the batch size go in further chunks.
    hellos = [Submission(source_code=programs[GAVEL_IDS[i]]["hello"], language=i) for i in sorted(ids)]
    rs = judge0.run(client=client, submissions=hellos)
    for i, r in zip(sorted(ids), rs):
        check(r.status == Status.ACCEPTED and r.stdout == "hello, world\n", f"hello in language {i}", r)
    for i in sorted(set(GAVEL_IDS) - ids):
        try:
            judge0.run(client=client, language=i, source_code=programs[GAVEL_IDS[i]]["hello"])
            check(False, f"language {i} is unavailable here, yet the SDK ran it")
        except RuntimeError as err:
            check("does not support language" in str(err), f"language {i} unavailable here: the SDK refuses it")
    print(f"suite passed in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
