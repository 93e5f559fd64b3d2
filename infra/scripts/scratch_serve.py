"""A `gavel serve` of its own for a benchmark: one worker, a scratch data dir, a free port."""

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import urllib.request


@contextlib.contextmanager
def scratch_serve(gavel, prefix):
    """Yields (the server's process, its base URL, its data dir); stops it and removes the dir after."""
    scratch = tempfile.mkdtemp(prefix=prefix)
    data = os.path.join(scratch, "data")
    server = subprocess.Popen(
        [gavel, "serve", "--addr", "127.0.0.1:0", "--data-dir", data, "--workers", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = server.stdout.readline()
        if "http://" not in line:
            sys.exit(f"gavel serve did not start: {line!r}")
        yield server, line.split()[-1], data
    finally:
        server.terminate()
        server.wait()
        subprocess.run(["rm", "-rf", scratch], check=False)


def request(base, path, body=None):
    """The answer's body, as bytes."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as answer:
        return answer.read()


def run_job(base, body):
    """Submits `body` and long-polls it to its end: its id, and the final answer's bytes."""
    job_id = json.loads(request(base, "/execute", body))["job_id"]
    while True:
        raw = request(base, f"/result/{job_id}?wait=30")
        if json.loads(raw)["status"] in ("completed", "failed"):
            return job_id, raw
