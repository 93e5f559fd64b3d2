#!/usr/bin/env python3
"""What a custom checker and an interactor cost per test over a plain run: the same A+B jobs judged
by the built-in token checker, by a Python checker, by testlib's wcmp in C++, and played through
an interactor in Python and one in C++ with testlib.

    cargo build --release --workspace --bins && eval "$(infra/scripts/testlib.sh)" &&
        infra/scripts/bench-checkers.py [--tests 40] [--rounds 5]

Starts target/release/gavel serve on a scratch data dir (one worker) and, for each checker,
submits a Python A+B job of 1 test and one of TESTS tests, ROUNDS times, interleaved. A job's
time is its runner's (started_at to finished_at) less its helper's compile step (the report's
wall time for it: testlib.h takes seconds to compile, and its spread would drown a test's cost),
so the per-test cost is the slope between the two sizes, (T(TESTS) - T(1)) / (TESTS - 1). An
interactive job runs the solution and the interactor side by side in two sandboxes for every test.
Prints the medians and the spread (min-max) of each, each checker's per-test cost over the
built-in one, and its compile step.
"""

import argparse
import json
import os
import statistics
import sys
from datetime import datetime

from scratch_serve import run_job, scratch_serve

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOLUTION = "a, b = map(int, input().split())\nprint(a + b)"
PYTHON_CHECKER = """import sys
out, ans = (open(path, "rb").read().split() for path in sys.argv[2:4])
if out != ans:
    print("wrong answer", file=sys.stderr)
    sys.exit(1)
print("ok", file=sys.stderr)
"""


PYTHON_INTERACTOR = """import sys
a, b = open(sys.argv[1]).read().split()
print(a, b, flush=True)
got = sys.stdin.readline()
open(sys.argv[2], "w").write(got)
"""
TESTLIB_INTERACTOR = """#include "testlib.h"
#include <iostream>
int main(int argc, char* argv[]) {
    registerInteraction(argc, argv);
    long long a = inf.readLong(), b = inf.readLong();
    std::cout << a << ' ' << b << std::endl;
    tout << ouf.readLong() << std::endl;
    quitf(_ok, "read");
}
"""


def checkers():
    testlib = os.environ.get("GAVEL_TEST_TESTLIB_DIR")
    if not testlib:
        sys.exit('GAVEL_TEST_TESTLIB_DIR is not set: run eval "$(infra/scripts/testlib.sh)" first')
    read = lambda *path: open(os.path.join(testlib, *path)).read()
    wcmp = {"mode": "custom", "language": "cpp", "code": read("checkers", "wcmp.cpp"),
            "files": [{"name": "testlib.h", "content": read("testlib.h")}]}
    testlib_h = [{"name": "testlib.h", "content": read("testlib.h")}]
    tokens = {"mode": "tokens"}
    return {
        "built-in tokens": (tokens, None),
        "python checker": ({"mode": "custom", "language": "python", "code": PYTHON_CHECKER}, None),
        "testlib wcmp (C++)": (wcmp, None),
        "python interactor": (tokens, {"language": "python", "code": PYTHON_INTERACTOR}),
        "testlib interactor": (tokens, {"language": "cpp", "code": TESTLIB_INTERACTOR, "files": testlib_h}),
    }


def job_seconds(base, data, judging, tests):
    """The job's runner time less its helper's compile step, and that compile step."""
    checker, interactor = judging
    body = {
        "language": "python",
        "code": SOLUTION,
        "checker": checker,
        "tests": [{"input": f"{i} {i + 1}\n", "expected_output": f"{2 * i + 1}\n"} for i in range(tests)],
    }
    if interactor:
        body["interactor"] = interactor
    job_id, raw = run_job(base, body)
    view = json.loads(raw)
    if view.get("verdict") != "accepted":
        sys.exit(f"a benchmark job was not accepted: {json.dumps(view)[:500]}")
    started, finished = (datetime.fromisoformat(view[k].replace("Z", "+00:00")) for k in ("started_at", "finished_at"))
    with open(os.path.join(data, "blobs", "jobs", job_id, "report.json")) as file:
        report = json.load(file)
    step = report.get("checker_compile") or report.get("interactor_compile") or {"wall_time_ms": 0}
    compile_s = step["wall_time_ms"] / 1e3
    return (finished - started).total_seconds() - compile_s, compile_s


def spread(values):
    return f"{statistics.median(values) * 1e3:7.1f} ms ({min(values) * 1e3:.1f}-{max(values) * 1e3:.1f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gavel", default=os.path.join(REPO, "target/release/gavel"))
    args = parser.parse_args()
    kinds = checkers()
    with scratch_serve(args.gavel, "gavel-bench-checkers-") as (_, base, data):
        slopes = {name: [] for name in kinds}
        compiles = {name: [] for name in kinds}
        for _ in range(args.rounds):
            for name, judging in kinds.items():
                one, compile_one = job_seconds(base, data, judging, 1)
                many, compile_many = job_seconds(base, data, judging, args.tests)
                compiles[name] += [compile_one, compile_many]
                slopes[name].append((many - one) / (args.tests - 1))
        plain_slope = statistics.median(slopes["built-in tokens"])
        print(f"python A+B, {args.tests} tests vs 1, {args.rounds} rounds (median, min-max)")
        for name in kinds:
            over = (statistics.median(slopes[name]) - plain_slope) * 1e3
            print(f"{name:20} per test {spread(slopes[name])}  over plain {over:+6.1f} ms; "
                  f"compile once per job {spread(compiles[name])}")


if __name__ == "__main__":
    main()
