"""Measures what grouping a batch buys: N submissions of one program with different stdin, as one
batch (Gavel makes it one job, compiled once) and as N single submissions (N jobs, N compiles).
Run by hand against a server:

    gavel serve --judge0-addr 127.0.0.1:2358 &
    $GAVEL_TEST_COMPAT_PYTHON tests/clients/judge0/batch_speedup.py http://127.0.0.1:2358 [--n 10] [--rounds 3] [--language 54|62]

Prints the median wall time of each way, from the first POST to the last result read with the
SDK's own polling, and the speed-up. Exits non-zero if any submission is not accepted.
"""

import argparse
import statistics
import sys
import time

import judge0
from judge0 import Status, Submission

SOURCES = {
    54: "#include <iostream>\nint main() { long long a, b; std::cin >> a >> b; std::cout << a + b << '\\n'; }",
    62: "import java.util.Scanner;\npublic class Main { public static void main(String[] a) { Scanner s = new Scanner(System.in); System.out.println(s.nextLong() + s.nextLong()); } }",
}


def submissions(language, n, round_):
    # Each round its own inputs, so no run can lean on another's.
    return [
        Submission(source_code=SOURCES[language], language=language, stdin=f"{i} {round_}",
                   expected_output=str(i + round_))
        for i in range(n)
    ]


def as_batch(client, subs):
    return judge0.run(client=client, submissions=subs)


def one_by_one(client, subs):
    for sub in subs:
        client.create_submission(sub)
    return judge0.wait(client=client, submissions=subs)


def timed(way, client, subs):
    started = time.monotonic()
    done = way(client, subs)
    elapsed = time.monotonic() - started
    bad = [s for s in done if s.status != Status.ACCEPTED]
    if bad:
        sys.exit(f"FAILED: {way.__name__}: {bad[0].status!r} {bad[0].compile_output!r} {bad[0].stderr!r}")
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--language", type=int, default=54, choices=sorted(SOURCES))
    args = parser.parse_args()
    client = judge0.Client(args.base)
    batch, single = [], []
    for round_ in range(args.rounds):
        batch.append(timed(as_batch, client, submissions(args.language, args.n, 2 * round_)))
        single.append(timed(one_by_one, client, submissions(args.language, args.n, 2 * round_ + 1)))
        print(f"round {round_ + 1}: batch {batch[-1]:.2f}s, one by one {single[-1]:.2f}s", flush=True)
    b, s = statistics.median(batch), statistics.median(single)
    print(f"language {args.language}, {args.n} submissions, median of {args.rounds}: "
          f"batch {b:.2f}s, one by one {s:.2f}s, speed-up x{s / b:.1f}")


if __name__ == "__main__":
    main()
