#!/usr/bin/env python3
"""What a job at the output caps costs: the size of its result against what its programs wrote,
and the server's peak memory while it judges it.

    cargo build --release --workspace --bins && infra/scripts/bench-outputs.py [--tests 100]

Starts target/release/gavel serve on a scratch data dir, submits one job of TESTS tests whose
program writes the bytes JSON escapes worst (NUL and 0xFF) to stdout and stderr until stopped,
at the limits' maxima (output_kb 8192 per stream, job_output_kb 65536), and prints: the bytes
written and kept, the bytes of the stored outputs and of the whole result, stored per raw byte,
and the server's resident memory before, its peak (VmHWM) after, and the job's wall time.
"""

import argparse
import base64
import json
import os
import sys
import time

from scratch_serve import run_job, scratch_serve

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROGRAM = """import os
chunk = b'\\0\\xff' * 32768
for _ in range(128):
    os.write(1, chunk)
    os.write(2, chunk)
"""


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def decoded_len(test, stream):
    text = test[stream]
    return len(base64.b64decode(text)) if test[stream + "_encoding"] == "base64" else len(text.encode())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=100)
    parser.add_argument("--gavel", default=os.path.join(REPO, "target/release/gavel"))
    args = parser.parse_args()
    with scratch_serve(args.gavel, "gavel-bench-outputs-") as (server, base, _):
        before = status_kb(server.pid, "VmRSS")
        job = {
            "language": "python",
            "code": PROGRAM,
            "tests": [{"input": ""} for _ in range(args.tests)],
            "limits": {"output_kb": 8192, "job_output_kb": 65536, "time_ms": 5000, "wall_time_ms": 10000},
        }
        started = time.monotonic()
        _, raw_result = run_job(base, job)
        view = json.loads(raw_result)
        elapsed = time.monotonic() - started
        peak = status_kb(server.pid, "VmHWM")
        if view["status"] != "completed":
            sys.exit(f"the job failed: {view.get('error')}")
        tests = view["tests"]
        raw = sum(decoded_len(t, "stdout") + decoded_len(t, "stderr") for t in tests)
        stored = sum(len(t["stdout"]) + len(t["stderr"]) for t in tests)
        print(f"tests {len(tests)}, verdicts {sorted({t['verdict'] for t in tests})}, job {elapsed:.1f} s")
        print(f"kept of what the programs wrote: {raw} bytes ({raw / 2**20:.1f} MiB, the job_output_kb budget)")
        print(f"stored outputs: {stored} bytes, {stored / raw:.4f} stored bytes per raw byte")
        print(f"whole result (GET /result): {len(raw_result)} bytes ({len(raw_result) / 2**20:.1f} MiB)")
        print(f"server resident memory: {before / 1024:.1f} MiB before, peak {peak / 1024:.1f} MiB (VmHWM)")


if __name__ == "__main__":
    main()
