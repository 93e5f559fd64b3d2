#!/usr/bin/env python3
"""Where a job's CPU goes: `gavel serve` and everything it starts under `perf record`, JOBS
CPU-light Python jobs submitted at once, then the CPU time per job of each part (the server, the
runner, the sandbox's zygote and init, the program) and each part's heaviest symbols.

    cargo build --profile profiling -p gavel -p gavel-runner --bins &&
        infra/scripts/profile-jobs.py [--jobs 200] [--tests 1] [--top 12]

perf samples CPU time (cpu-clock, as in a VM without hardware counters) of the server and every
process it forks, whatever else the machine runs, so the figures hold under load; kernel work
done on their behalf in kernel threads (cgroup and namespace teardown after exit) is not counted.
The program is what runs under the names `python3`; everything else is Gavel's per-job cost.
Recording starts after the server is up and one warm-up job is done, so start-up (the toolchain
probes, the first job's cold caches) is left out. `--call-graph` adds DWARF call chains, shown as
each part's heaviest callers in Gavel's own code.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from scratch_serve import run_job

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FREQUENCY = 1999
# A process's name (its comm) says which part of Gavel it is.
PARTS = [
    ("program", re.compile(r"^python3")),
    ("sandbox init", re.compile(r"^gavel-init")),
    ("sandbox zygote", re.compile(r"^gavel-zygote")),
    ("runner", re.compile(r"^gavel-runner")),
    ("server", re.compile(r".")),
]


def part_of(comm):
    return next(name for name, pattern in PARTS if pattern.search(comm))


def judge(base, tests):
    body = {
        "language": "python",
        "code": "a, b = map(int, input().split())\nprint(a + b)",
        "tests": [{"input": f"{i} {i}\n", "expected_output": f"{2 * i}\n"} for i in range(tests)],
    }
    _, raw = run_job(base, body)
    view = json.loads(raw)
    if view.get("verdict") != "accepted":
        sys.exit(f"a profiled job was not accepted: {json.dumps(view)[:400]}")


def record(args, scratch):
    """Runs the jobs under perf; returns the perf.data path and the wall time."""
    data = os.path.join(scratch, "perf.data")
    control, ack = os.path.join(scratch, "control"), os.path.join(scratch, "ack")
    os.mkfifo(control)
    os.mkfifo(ack)
    call_graph = ["--call-graph", "dwarf,16384"] if args.call_graph else []
    gavel = os.path.join(args.bin_dir, "gavel")
    runner = os.path.join(args.bin_dir, "gavel-runner")
    for binary in (gavel, runner):
        if not os.access(binary, os.X_OK):
            sys.exit(f"{binary} is missing: cargo build --profile profiling -p gavel -p gavel-runner --bins")
    server = subprocess.Popen(
        ["perf", "record", "-q", "-F", str(FREQUENCY), "-o", data, "-D", "-1",
         "--control", f"fifo:{control},{ack}"] + call_graph + ["--",
         gavel, "serve", "--addr", "127.0.0.1:0", "--data-dir", os.path.join(scratch, "data"),
         "--runner", runner] + (["--workers", str(args.workers)] if args.workers else []),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        line = server.stdout.readline()
        if "http://" not in line:
            sys.exit(f"gavel serve did not start under perf: {line!r}")
        base = line.split()[-1]
        judge(base, args.tests)  # warm-up: the first job pays for cold caches
        perf_command(control, ack, "enable")
        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=64) as pool:
            list(pool.map(lambda _: judge(base, args.tests), range(args.jobs)))
        wall = time.monotonic() - started
        perf_command(control, ack, "disable")
    finally:
        # perf passes SIGINT on to the server, which shuts down; perf then writes its data.
        server.send_signal(2)
        server.wait(timeout=120)
    return data, wall


def perf_command(control, ack, command):
    with open(control, "w") as fifo:
        fifo.write(command + "\n")
    with open(ack) as fifo:
        fifo.readline()


def samples(data, keys):
    """Samples per (comm, dso, symbol), from perf report's raw rows."""
    out = subprocess.run(
        ["perf", "report", "-i", data, "--stdio", "--no-children", "-F", f"sample,{keys}", "-t", "\t"],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split("\t")]
        if fields[0].isdigit():
            rows.append((int(fields[0]), fields[1:]))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--tests", type=int, default=1)
    parser.add_argument("--workers", type=int, default=0, help="the server's default when 0")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--bin-dir", default=os.path.join(REPO, "target", "profiling"),
                        help="where gavel and gavel-runner are (another build's, to compare)")
    parser.add_argument("--call-graph", action="store_true", help="record DWARF call chains (much larger data)")
    parser.add_argument("--keep", help="copy perf.data here, for perf report")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gavel-profile-") as scratch:
        data, wall = record(args, scratch)
        rows = samples(data, "comm,dso,sym")
        if args.keep:
            subprocess.run(["cp", data, args.keep], check=True)
    ms_per_job = lambda count: count * 1e3 / FREQUENCY / args.jobs
    by_part = collections.Counter()
    symbols = collections.defaultdict(collections.Counter)
    for count, (comm, dso, sym) in rows:
        part = part_of(comm)
        by_part[part] += count
        symbols[part][f"{sym} ({os.path.basename(dso)})"] += count
    total = sum(by_part.values())
    print(f"{args.jobs} Python A+B jobs of {args.tests} test(s) at once {wall:.2f} s wall; "
          f"CPU per job, from {total} samples at {FREQUENCY} Hz")
    for part, _ in PARTS:
        print(f"  {part:15} {ms_per_job(by_part[part]):7.2f} ms  {100 * by_part[part] / max(total, 1):5.1f} %")
    overhead = total - by_part["program"]
    print(f"  {'all but the program':15} {ms_per_job(overhead):7.2f} ms")
    for part, _ in PARTS:
        if not symbols[part]:
            continue
        print(f"\n# {part}: heaviest symbols (ms per job)")
        for sym, count in symbols[part].most_common(args.top):
            print(f"  {ms_per_job(count):6.2f}  {sym}")


if __name__ == "__main__":
    main()
