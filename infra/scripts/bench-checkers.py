#!/usr/bin/env python3
"""What a custom checker costs per test over a plain run: the same A+B jobs judged by the built-in
token checker, by a Python checker and by testlib's wcmp in C++.

    cargo build --release --workspace --bins && eval "$(infra/scripts/testlib.sh)" &&
        infra/scripts/bench-checkers.py [--tests 40] [--rounds 5]

Starts target/release/gavel serve on a scratch data dir (one worker) and, for each checker,
submits a Python A+B job of 1 test and one of TESTS tests, ROUNDS times, interleaved. A job's
time is its runner's (started_at to finished_at), so the per-test cost is the slope between the
two sizes, (T(TESTS) - T(1)) / (TESTS - 1), which leaves the checker's compile step (once per job)
out; the compile step is the 1-test job's time over the plain one's. Prints the medians and the
spread (min-max) of each, and each checker's per-test cost over the built-in one.
"""

import argparse
import json
import os
import statistics
import sys
from datetime import datetime

from scratch_serve import request, scratch_serve

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOLUTION = "a, b = map(int, input().split())\nprint(a + b)"
PYTHON_CHECKER = """import sys
out, ans = (open(path, "rb").read().split() for path in sys.argv[2:4])
if out != ans:
    print("wrong answer", file=sys.stderr)
    sys.exit(1)
print("ok", file=sys.stderr)
"""


def checkers():
    testlib = os.environ.get("GAVEL_TEST_TESTLIB_DIR")
    if not testlib:
        sys.exit('GAVEL_TEST_TESTLIB_DIR is not set: run eval "$(infra/scripts/testlib.sh)" first')
    read = lambda *path: open(os.path.join(testlib, *path)).read()
    wcmp = {"mode": "custom", "language": "cpp", "code": read("checkers", "wcmp.cpp"),
            "files": [{"name": "testlib.h", "content": read("testlib.h")}]}
    return {
        "built-in tokens": {"mode": "tokens"},
        "python checker": {"mode": "custom", "language": "python", "code": PYTHON_CHECKER},
        "testlib wcmp (C++)": wcmp,
    }


def job_seconds(base, checker, tests):
    body = {
        "language": "python",
        "code": SOLUTION,
        "checker": checker,
        "tests": [{"input": f"{i} {i + 1}\n", "expected_output": f"{2 * i + 1}\n"} for i in range(tests)],
    }
    job_id = json.loads(request(base, "/execute", body))["job_id"]
    while True:
        view = json.loads(request(base, f"/result/{job_id}?wait=30"))
        if view["status"] in ("completed", "failed"):
            break
    if view.get("verdict") != "accepted":
        sys.exit(f"a benchmark job was not accepted: {json.dumps(view)[:500]}")
    started, finished = (datetime.fromisoformat(view[k].replace("Z", "+00:00")) for k in ("started_at", "finished_at"))
    return (finished - started).total_seconds()


def spread(values):
    return f"{statistics.median(values) * 1e3:7.1f} ms ({min(values) * 1e3:.1f}-{max(values) * 1e3:.1f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--gavel", default=os.path.join(REPO, "target/release/gavel"))
    args = parser.parse_args()
    kinds = checkers()
    with scratch_serve(args.gavel, "gavel-bench-checkers-") as (_, base):
        slopes = {name: [] for name in kinds}
        singles = {name: [] for name in kinds}
        for _ in range(args.rounds):
            for name, checker in kinds.items():
                one = job_seconds(base, checker, 1)
                many = job_seconds(base, checker, args.tests)
                singles[name].append(one)
                slopes[name].append((many - one) / (args.tests - 1))
        plain_slope = statistics.median(slopes["built-in tokens"])
        plain_single = statistics.median(singles["built-in tokens"])
        print(f"python A+B, {args.tests} tests vs 1, {args.rounds} rounds (median, min-max)")
        for name in kinds:
            over = (statistics.median(slopes[name]) - plain_slope) * 1e3
            compile_s = (statistics.median(singles[name]) - plain_single) * 1e3
            print(f"{name:20} per test {spread(slopes[name])}  over plain {over:+6.1f} ms; "
                  f"1-test job {spread(singles[name])} ({compile_s:+.0f} ms: the checker's compile and one run)")


if __name__ == "__main__":
    main()
