#!/usr/bin/env python3
"""Per-test and per-job cost of each way of running a program, for every catalogue language.

For each language, the same hello/echo program (reads a line, prints "hello, <line>"):

  bare         compiled once on the host, then the catalogue's run command fork+exec'd directly
               (by bash, timed with $EPOCHREALTIME) with the test's input on stdin: the baseline
               cost of one test run;
  bare-image   the same inside one container of the language's image (its toolchain may be
               another version than the host's), when a docker part runs;
  process      `gavel serve` (process launcher): POST /execute → completed (long poll), for a
               1-test and a 10-test job; per test = (T10 − T1) / 9;
  docker       the same through `gavel serve --launcher docker` (one container per job);
  docker-exec  the original service's way: `docker run -d` a container from gavel-<id>:latest kept
               alive with `sleep infinity`, the source copied in, compiled once and run once per
               test with `docker exec`, then `docker rm -f`; per test = median(docker exec run),
               end-to-end from `docker run` to the end of `docker rm`.

Overhead per test = per test − bare (and − bare-image for the docker parts). The compile and run commands are the catalogue's own, read
from functions/gavel-core/src/language.rs (GET /languages does not show them). Run from anywhere
after `cargo build --release --workspace --bins` (and, for the docker parts,
infra/scripts/build-images.sh):

    infra/scripts/bench-launchers.py [--languages python,cpp] [--launchers process,docker,docker-exec]
                                     [--jobs 5] [--bare-runs 20] [--json out.json] [--skip-missing]

Anything a requested part needs that is missing (the gavel binary, the docker launcher, the docker
daemon, an image, a host toolchain) is listed before anything runs; the script then stops, unless
--skip-missing asks it to run the available parts only.
"""

import argparse
import json
import os
import platform
import queue
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CATALOGUE_RS = os.path.join(REPO, "functions", "gavel-core", "src", "language.rs")
LAUNCHERS = ("process", "docker", "docker-exec")
SERVER_LAUNCHERS = ("process", "docker")
TESTS = 10
LIMITS = {"time_ms": 5000, "memory_mb": 512}

# The program is not in the catalogue: one per language, each reading one line from stdin.
HELLO = {
    "python": 'print("hello, " + input())\n',
    "javascript": 'const line = require("fs").readFileSync(0, "utf8").split("\\n")[0];\n'
                  'console.log("hello, " + line);\n',
    "typescript": 'import * as fs from "fs";\n'
                  'const line: string = fs.readFileSync(0, "utf8").split("\\n")[0];\n'
                  'console.log("hello, " + line);\n',
    "cpp": '#include <iostream>\n#include <string>\n'
           'int main() { std::string s; std::getline(std::cin, s); std::cout << "hello, " << s << "\\n"; }\n',
    "c": '#include <stdio.h>\n#include <string.h>\n'
         'int main(void) { char s[256]; if (!fgets(s, sizeof s, stdin)) s[0] = 0;\n'
         '  s[strcspn(s, "\\n")] = 0; printf("hello, %s\\n", s); return 0; }\n',
    "csharp": 'using System;\n'
              'class Program { static void Main() { Console.WriteLine("hello, " + Console.ReadLine()); } }\n',
    "java": 'import java.io.*;\n'
            'public class Main { public static void main(String[] args) throws IOException {\n'
            '  BufferedReader in = new BufferedReader(new InputStreamReader(System.in));\n'
            '  System.out.println("hello, " + in.readLine()); } }\n',
    "go": 'package main\n\nimport (\n\t"bufio"\n\t"fmt"\n\t"os"\n\t"strings"\n)\n\n'
          'func main() {\n\ts, _ := bufio.NewReader(os.Stdin).ReadString(\'\\n\')\n'
          '\tfmt.Println("hello, " + strings.TrimRight(s, "\\n"))\n}\n',
    "rust": 'use std::io::BufRead;\n'
            'fn main() { let mut s = String::new(); std::io::stdin().lock().read_line(&mut s).unwrap();\n'
            '  println!("hello, {}", s.trim_end()); }\n',
    "ruby": 'puts "hello, " + gets.chomp\n',
    "bash": 'read -r name\necho "hello, $name"\n',
}


class BenchError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# The catalogue, read from its Rust source.

def catalogue():
    """{id: {source_file, compile, run, env}} and the toolchain PATH, as language.rs has them."""
    with open(CATALOGUE_RS) as f:
        text = f.read()
    path = re.search(r'pub const TOOLCHAIN_PATH: &str = "([^"]+)";', text)
    start = text.find("const CATALOGUE: &[Language] = &[")
    end = text.find("\n];", start)
    if not path or start < 0 or end < 0:
        sys.exit(f"cannot find the catalogue in {CATALOGUE_RS}: update catalogue() in {__file__}")
    strings = lambda s: [bytes(m, "utf-8").decode("unicode_escape") for m in re.findall(r'"((?:[^"\\]|\\.)*)"', s)]
    languages = {}
    for block in re.findall(r"\n    Language \{\n(.*?)\n    \},", text[start:end], re.S):
        fields, name = {}, None
        for line in block.split("\n"):
            if line.strip().startswith("//"):
                continue
            top = re.match(r"^ {8}(\w+):(.*)$", line)
            if top:
                name = top.group(1)
                fields[name] = top.group(2)
            elif name:
                fields[name] += "\n" + line
        try:
            env = strings(fields["env"])
            lang = {
                "id": strings(fields["id"])[0],
                "source_file": strings(fields["source_file"])[0],
                "compile": None if fields["compile"].strip().rstrip(",") == "None" else strings(fields["compile"]),
                "run": strings(fields["run"]),
                "env": dict(zip(env[::2], env[1::2])),
            }
        except (KeyError, IndexError):
            sys.exit(f"cannot parse a language in {CATALOGUE_RS}: update catalogue() in {__file__}\n{block}")
        if not lang["run"] or lang["compile"] == []:
            sys.exit(f"cannot parse the commands of {lang['id']} in {CATALOGUE_RS}")
        languages[lang["id"]] = lang
    if not languages:
        sys.exit(f"no language found in {CATALOGUE_RS}: update catalogue() in {__file__}")
    return languages, path.group(1)


def tests(count):
    return [{"input": f"gavel-{i}\n", "expected_output": f"hello, gavel-{i}\n"} for i in range(count)]


def same_output(actual, expected):
    """The service's default `lines` checker: trailing spaces and trailing blank lines ignored."""
    norm = lambda s: "\n".join(line.rstrip() for line in s.rstrip().split("\n"))
    return norm(actual) == norm(expected)


# ---------------------------------------------------------------------------------------------
# Statistics.

def percentile(samples, p):
    """The nearest-rank percentile, like `gavel bench`."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = min(max(-(-p * len(ordered) // 100), 1), len(ordered))
    return ordered[rank - 1]


def summary(samples):
    return {"median": percentile(samples, 50), "p90": percentile(samples, 90), "samples": samples}


# ---------------------------------------------------------------------------------------------
# Bare: no sandbox, the host's toolchain or the image's.

# Runs "$@" RUNS + 1 times with INPUT on stdin, each run timed with bash's microsecond clock
# (no fork for the clock) and its times on stderr; stdout is the last run's output. The first
# run warms the page cache and is not counted. The same loop on the host and in a container.
BARE_LOOP = ('printf "%s" "$INPUT" > in; for ((i = 0; i <= RUNS; i++)); do start=$EPOCHREALTIME; '
             '"$@" < in > out 2> err || { cat err >&2; exit 1; }; end=$EPOCHREALTIME; '
             'echo "took $start $end" >&2; done; cat out')


def bare_timings(code, out, err, case, runs, where):
    if code != 0 or not same_output(out, case["expected_output"]):
        raise BenchError(f"bare run {where} failed ({code}): {out[:200]!r} {err.strip()[-300:]}")
    took = re.findall(r"^took (\d+)[.,](\d{6}) (\d+)[.,](\d{6})$", err, re.M)
    micros = [(int(e) - int(s)) * 1_000_000 + int(eu) - int(su) for s, su, e, eu in took]
    if len(micros) != runs + 1:
        raise BenchError(f"bare runs {where}: expected {runs + 1} timings, got {err[-300:]!r}")
    return [m / 1000 for m in micros[1:]]


def bare(lang, toolchain_path, runs):
    work = tempfile.mkdtemp(prefix="gavel-bench-bare-")
    try:
        with open(os.path.join(work, lang["source_file"]), "w") as f:
            f.write(HELLO[lang["id"]])
        # What the sandbox gives a program: PATH, HOME, LANG and the language's own variables.
        env = {"PATH": toolchain_path, "HOME": work, "LANG": "C.UTF-8", **lang["env"]}
        compile_ms = None
        if lang["compile"]:
            started = time.perf_counter()
            done = subprocess.run(lang["compile"], cwd=work, env=env, capture_output=True, timeout=300)
            compile_ms = (time.perf_counter() - started) * 1000
            if done.returncode != 0:
                raise BenchError(f"bare compile failed ({done.returncode}): "
                                 f"{(done.stdout + done.stderr).decode(errors='replace')[-500:]}")
        case = tests(1)[0]
        done = subprocess.run(["bash", "-c", BARE_LOOP, "bash", *lang["run"]], cwd=work, capture_output=True,
                              env={**env, "INPUT": case["input"], "RUNS": str(runs)}, timeout=600)
        samples = bare_timings(done.returncode, done.stdout.decode(errors="replace"),
                               done.stderr.decode(errors="replace"), case, runs, "on the host")
        return {"per_test": summary(samples), "compile_ms": compile_ms}
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Through `gavel serve`.

class Server:
    """`gavel serve` on a free loopback port with a data dir of its own."""

    def __init__(self, gavel, launcher, options):
        self.data_dir = tempfile.mkdtemp(prefix=f"gavel-bench-{launcher}-")
        self.log_path = os.path.join(self.data_dir, "serve.log")
        argv = [gavel, "serve", "--addr", "127.0.0.1:0", "--data-dir", os.path.join(self.data_dir, "data")]
        argv += options
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, text=True)
        try:
            self.base = self.wait_for_address(argv)
            self.health = self.get("/health")
            self.languages = {lang["id"]: lang for lang in self.get("/languages")}
        except BaseException:
            self.stop()
            raise

    def wait_for_address(self, argv):
        """The address from the line `gavel serve` prints once it listens."""
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l) for l in self.process.stdout], daemon=True).start()
        deadline = time.monotonic() + 120
        while True:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is None and time.monotonic() < deadline:
                    continue
                why = "within 120 s" if self.process.poll() is None else f"(it exited: {self.process.poll()})"
                raise BenchError(f"`{' '.join(argv)}` did not say where it listens {why}; log:\n{self.log_tail()}")
            found = re.search(r"gavel listening on (\S+)", line)
            if found:
                return found.group(1).rstrip("/")

    def log_tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-20:])
        except OSError:
            return ""

    def get(self, path, timeout=60):
        with urllib.request.urlopen(self.base + path, timeout=timeout) as response:
            return json.load(response)

    def post(self, path, body):
        request = urllib.request.Request(self.base + path, data=json.dumps(body).encode(),
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response)
        except urllib.error.HTTPError as err:
            raise BenchError(f"POST {path}: {err.code} {err.read().decode(errors='replace')[:300]}")

    def judge(self, lang_id, cases):
        """POST → completed, in ms, and the job's view; anything but all accepted is an error."""
        body = {"language": lang_id, "code": HELLO[lang_id], "tests": cases, "limits": LIMITS}
        started = time.perf_counter()
        job_id = self.post("/execute", body)["job_id"]
        while True:
            view = self.get(f"/result/{job_id}?wait=30", timeout=45)
            if view["status"] in ("completed", "failed"):
                break
        elapsed = (time.perf_counter() - started) * 1000
        if view["status"] != "completed" or view.get("verdict") != "accepted":
            brief = {k: view.get(k) for k in ("status", "verdict", "error", "compile", "summary")}
            first = next((t for t in view.get("tests") or [] if t.get("verdict") != "accepted"), None)
            raise BenchError(f"job {job_id} not accepted: {json.dumps(brief)[:400]} first failing test: "
                             f"{json.dumps(first)[:400] if first else '-'}")
        return elapsed, view

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if not self.log.closed:
            self.log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def through_server(server, lang_id, jobs):
    one, ten = tests(1), tests(TESTS)
    server.judge(lang_id, one)  # warm-up: page cache, the image's first container, the compiler
    t1, t10, box_wall, box_cpu = [], [], [], []
    for _ in range(jobs):  # interleaved, so a drift of the machine hits both sizes alike
        elapsed, _ = server.judge(lang_id, one)
        t1.append(elapsed)
        elapsed, view = server.judge(lang_id, ten)
        t10.append(elapsed)
        box_wall += [t["wall_time_ms"] for t in view["tests"]]
        box_cpu += [t["time_ms"] for t in view["tests"]]
    per_test = (percentile(t10, 50) - percentile(t1, 50)) / (TESTS - 1)
    # How far that estimate may be off: the standard error of a median is about 1.25 σ/√n.
    spread = lambda xs: statistics.stdev(xs) ** 2 if len(xs) > 1 else 0.0
    per_test_se = 1.25 * ((spread(t1) + spread(t10)) / jobs) ** 0.5 / (TESTS - 1)
    return {"job_1": summary(t1), "job_10": summary(t10), "per_test_ms": per_test, "per_test_se_ms": per_test_se,
            "box_wall_ms": summary(box_wall), "box_cpu_ms": summary(box_cpu),
            "isolation": view.get("isolation")}


# ---------------------------------------------------------------------------------------------
# The original service's way: a container per job, `docker exec` per test.

def docker(*args, stdin=None, timeout=300):
    done = subprocess.run(["docker", *args], input=stdin, capture_output=True, timeout=timeout)
    return done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")


def start_container(lang, image):
    """A container of the image kept alive, with the source in /tmp/w; the env flags for exec."""
    env = ["-e", "HOME=/tmp/w", "-e", "LANG=C.UTF-8"]
    for name, value in lang["env"].items():
        env += ["-e", f"{name}={value}"]
    code, out, err = docker("run", "-d", "--network", "none", "--tmpfs", "/tmp:exec",
                            "--entrypoint", "sleep", image, "infinity")
    if code != 0:
        raise BenchError(f"docker run {image} failed: {err.strip()[-300:]}")
    container = out.strip()
    code, out, err = docker("exec", "-i", container, "sh", "-c",
                            f"mkdir -p /tmp/w && cat > /tmp/w/{lang['source_file']}",
                            stdin=HELLO[lang["id"]].encode())
    if code != 0:
        remove_container(container)
        raise BenchError(f"copying the source into {image} failed: {err.strip()[-300:]}")
    return container, env


def remove_container(container):
    code, _, err = docker("rm", "-f", "-v", container)
    if code != 0:
        raise BenchError(f"docker rm -f {container} failed: {err.strip()[-300:]}")


def compile_in(lang, image, container, env):
    started = time.perf_counter()
    code, out, err = docker("exec", "-w", "/tmp/w", *env, container, *lang["compile"])
    if code != 0:
        raise BenchError(f"compile in {image} failed ({code}): {(out + err).strip()[-500:]}")
    return (time.perf_counter() - started) * 1000


def docker_exec_job(lang, image, cases):
    """One job: (docker run → docker rm ms, [docker exec run ms per test], compile ms)."""
    started = time.perf_counter()
    container, env = start_container(lang, image)
    try:
        compile_ms = compile_in(lang, image, container, env) if lang["compile"] else None
        runs = []
        for case in cases:
            run_started = time.perf_counter()
            code, out, err = docker("exec", "-i", "-w", "/tmp/w", *env, container, *lang["run"],
                                    stdin=case["input"].encode(), timeout=60)
            runs.append((time.perf_counter() - run_started) * 1000)
            if code != 0 or not same_output(out, case["expected_output"]):
                raise BenchError(f"run in {image} failed ({code}): {out[:200]!r} {err.strip()[-300:]}")
    except BaseException:
        remove_container(container)
        raise
    remove_container(container)
    return (time.perf_counter() - started) * 1000, runs, compile_ms


def image_bare(lang, image, runs):
    """The bare baseline with the image's toolchain: BARE_LOOP in one container (one `docker exec`)."""
    case = tests(1)[0]
    container, env = start_container(lang, image)
    try:
        compile_ms = compile_in(lang, image, container, env) if lang["compile"] else None
        code, out, err = docker("exec", "-w", "/tmp/w", *env, "-e", f"INPUT={case['input']}", "-e", f"RUNS={runs}",
                                container, "bash", "-c", BARE_LOOP, "bash", *lang["run"], timeout=600)
        timings = bare_timings(code, out, err, case, runs, f"in {image}")
    finally:
        remove_container(container)
    return {"per_test": summary(timings), "compile_ms": compile_ms}


def docker_exec(lang, image, jobs):
    one, ten = tests(1), tests(TESTS)
    docker_exec_job(lang, image, one)  # warm-up, like the server's
    t1, t10, runs, compiles = [], [], [], []
    for _ in range(jobs):
        elapsed, _, _ = docker_exec_job(lang, image, one)
        t1.append(elapsed)
        elapsed, job_runs, compile_ms = docker_exec_job(lang, image, ten)
        t10.append(elapsed)
        runs += job_runs
        if compile_ms is not None:
            compiles.append(compile_ms)
    return {"job_1": summary(t1), "job_10": summary(t10), "exec_run": summary(runs),
            "per_test_ms": percentile(runs, 50), "compile": summary(compiles) if compiles else None}


# ---------------------------------------------------------------------------------------------
# What is there.

def gavel_binaries(path, launcher):
    """The server binary, and for the process launcher the runner next to it."""
    needed = [path] + ([os.path.join(os.path.dirname(path), "gavel-runner")] if launcher == "process" else [])
    return [f"{p} (build it: cargo build --release --workspace --bins)" for p in needed if not os.access(p, os.X_OK)]


def serve_help(gavel):
    done = subprocess.run([gavel, "serve", "--help"], capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def server_options(gavel, launcher, image):
    """Explicit flags, so that GAVEL_* variables of the caller's shell change nothing."""
    if "--launcher" not in serve_help(gavel):
        return []  # a build from before the docker launcher: the process launcher only
    options = ["--launcher", launcher]
    if launcher == "docker":
        prefix, tag = re.fullmatch(r"(.*)\{id\}:([^:/]+)", image).groups()
        options += ["--image-prefix", prefix, "--image-tag", tag]
    return options


def docker_launcher_missing(gavel):
    text = serve_help(gavel)
    if "--launcher" not in text:
        return [f"`{gavel} serve --launcher docker`: this build of gavel has no --launcher option "
                f"(the docker launcher is not there yet; rebuild once it is)"]
    option = text[text.index("--launcher"):]
    option = option[:option.find("\n  -", 1) if "\n  -" in option[1:] else len(option)]
    if "docker" not in option:
        return [f"`{gavel} serve --launcher docker`: --launcher takes no `docker` value here"]
    return []


def docker_daemon_missing():
    if not shutil.which("docker"):
        return ["the docker CLI (not on PATH)"]
    code, _, err = docker("info", "--format", "{{.ServerVersion}}", timeout=60)
    return [] if code == 0 else [f"the docker daemon (`docker info`: {err.strip()[-200:]})"]


def image_missing(image):
    code, _, _ = docker("image", "inspect", "--format", "{{.Id}}", image, timeout=60)
    return code != 0


def host_toolchain_missing(lang, toolchain_path):
    tools = [lang["run"][0]] + ([lang["compile"][0]] if lang["compile"] else [])
    return [f"host toolchain for {{id}}: `{tool}` not on {toolchain_path}" for tool in tools
            if not tool.startswith("./") and not shutil.which(tool, path=toolchain_path)]


def machine():
    cgroup = "v1"
    try:
        if subprocess.run(["stat", "-fc", "%T", "/sys/fs/cgroup"], capture_output=True,
                          text=True).stdout.strip() == "cgroup2fs":
            cgroup = "v2"
        elif os.path.isdir("/sys/fs/cgroup/unified"):
            cgroup = "v1 (hybrid, v2 mounted at /sys/fs/cgroup/unified)"
    except OSError:
        cgroup = "unknown"
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    except OSError:
        pass
    return {"cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)), "cpu": cpu,
            "cgroup": cgroup, "kernel": platform.release(), "arch": platform.machine()}


# ---------------------------------------------------------------------------------------------
# The table.

def fmt(value, width=7):
    return f"{value:>{width}.1f}" if isinstance(value, (int, float)) else f"{value or '-':>{width}}"


def table(results, order, launchers, out):
    print(f"{'language':<11} {'via':<11} {'1-test job':>15} {'10-test job':>15} {'per test':>15} "
          f"{'overhead/test':>15} {'in-box wall':>15}", file=out)
    print(f"{'':<11} {'':<11} {'med':>7} {'p90':>7} {'med':>7} {'p90':>7} {'med':>7} {'p90/±':>7} "
          f"{'vs bare':>7} {'vs img':>7} {'med':>7} {'p90':>7}", file=out)
    for lang_id in order:
        cells = results[lang_id]
        baseline = lambda part: cells[part]["per_test"]["median"] if isinstance(cells.get(part), dict) else None
        host, image = baseline("bare"), baseline("bare-image")
        for via in ("bare", "bare-image", *launchers):
            cell = cells.get(via)
            if via == "bare-image" and cell is None:
                continue
            if not isinstance(cell, dict):
                print(f"{lang_id:<11} {via:<11} {cell or 'not run'}", file=out)
                continue
            j1, j10, box = cell.get("job_1", {}), cell.get("job_10", {}), cell.get("box_wall_ms", {})
            if via in ("bare", "bare-image"):
                per, per90 = cell["per_test"]["median"], cell["per_test"]["p90"]
            elif via == "docker-exec":
                per, per90 = cell["exec_run"]["median"], cell["exec_run"]["p90"]
            else:
                per, per90 = cell["per_test_ms"], f"±{cell['per_test_se_ms']:.1f}"
            vs_host = per - host if via not in ("bare", "bare-image") and host is not None else None
            vs_image = per - image if via in ("docker", "docker-exec") and image is not None else None
            print(f"{lang_id:<11} {via:<11} {fmt(j1.get('median'))} {fmt(j1.get('p90'))} "
                  f"{fmt(j10.get('median'))} {fmt(j10.get('p90'))} {fmt(per)} {fmt(per90)} "
                  f"{fmt(vs_host)} {fmt(vs_image)} {fmt(box.get('median'))} {fmt(box.get('p90'))}", file=out)


# ---------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--languages", help="comma-separated ids (default: the whole catalogue)")
    parser.add_argument("--launchers", default=",".join(LAUNCHERS),
                        help=f"comma-separated, of {', '.join(LAUNCHERS)} (default: all; bare always runs)")
    parser.add_argument("--jobs", type=int, default=5, help="jobs per size (1 and 10 tests) per launcher (5)")
    parser.add_argument("--bare-runs", type=int, default=20, help="bare runs per language (20)")
    parser.add_argument("--gavel", default=os.path.join(REPO, "target", "release", "gavel"))
    parser.add_argument("--image", default="gavel-{id}:latest",
                        help="runner image per language, PREFIX{id}:TAG (gavel-{id}:latest)")
    parser.add_argument("--json", metavar="FILE", help="also write every figure and sample as JSON ('-': stdout, "
                                                       "the table then goes to stderr)")
    parser.add_argument("--skip-missing", action="store_true",
                        help="run the available parts when some requested part is missing, instead of stopping")
    args = parser.parse_args()

    languages, toolchain_path = catalogue()
    without_program = sorted(set(languages) - set(HELLO))
    if without_program:
        sys.exit(f"no hello program for {', '.join(without_program)}: add one to HELLO in {__file__}")
    order = list(languages)
    if args.languages:
        order = [l.strip() for l in args.languages.split(",") if l.strip()]
        unknown = [l for l in order if l not in languages]
        if unknown:
            sys.exit(f"unknown language(s) {', '.join(unknown)}; the catalogue has {', '.join(languages)}")
    launchers = [l.strip() for l in args.launchers.split(",") if l.strip()]
    unknown = [l for l in launchers if l not in LAUNCHERS]
    if unknown:
        sys.exit(f"unknown launcher(s) {', '.join(unknown)}; choose from {', '.join(LAUNCHERS)}")
    gavel = os.path.abspath(args.gavel)
    if not re.fullmatch(r"(.*)\{id\}:([^:/]+)", args.image):
        sys.exit(f"--image must look like PREFIX{{id}}:TAG (the docker launcher's naming), not {args.image}")
    table_out = sys.stderr if args.json == "-" else sys.stdout

    # Everything missing, per part, before anything runs.
    missing = {}  # (language or "*", part) -> [reasons, "{id}" standing for the language]
    for lang_id in order:
        reasons = host_toolchain_missing(languages[lang_id], toolchain_path)
        if reasons:
            missing[(lang_id, "bare")] = reasons
    for launcher in SERVER_LAUNCHERS:
        reasons = gavel_binaries(gavel, launcher) if launcher in launchers else []
        if reasons:
            missing[("*", launcher)] = reasons
    if "docker" in launchers and ("*", "docker") not in missing:
        reasons = docker_launcher_missing(gavel)
        if reasons:
            missing[("*", "docker")] = reasons
    images = {}  # language -> whether its image is there, when a docker part was asked for
    if "docker" in launchers or "docker-exec" in launchers:
        daemon = docker_daemon_missing()
        if not daemon:
            images = {lang_id: not image_missing(args.image.format(id=lang_id)) for lang_id in order}
        for launcher in ("docker", "docker-exec"):
            if launcher in launchers:
                if daemon:
                    missing.setdefault(("*", launcher), []).extend(daemon)
                else:
                    for lang_id in order:
                        if not images[lang_id]:
                            missing[(lang_id, launcher)] = [f"image {args.image} (build it: infra/scripts/build-images.sh)"]
    if missing:
        print("missing:", file=sys.stderr)
        grouped = {}  # (part, reason with the language's id as {id}) -> languages
        for (lang_id, part), reasons in missing.items():
            for reason in dict.fromkeys(reasons):
                grouped.setdefault((part, reason), []).append(lang_id)
        for (part, reason), langs in grouped.items():
            if langs == ["*"]:
                print(f"  {part:<12} {reason}", file=sys.stderr)
            elif len(langs) == 1:
                print(f"  {part:<12} {reason.replace('{id}', langs[0])}", file=sys.stderr)
            else:
                print(f"  {part:<12} {reason} for {{id}} in {', '.join(langs)}", file=sys.stderr)
        if not args.skip_missing:
            runnable = []
            for part in ("bare", *launchers):
                able = [l for l in order if (l, part) not in missing and ("*", part) not in missing]
                if able and part != "bare":
                    runnable.append(part if len(able) == len(order) else f"{part} (only {','.join(able)})")
            hint = f"available: --launchers {'; '.join(runnable)}" if runnable else "no launcher is available"
            sys.exit(f"not running: some requested parts are missing ({hint}). Run the available parts "
                     f"with --skip-missing, or restrict with --languages/--launchers.")

    info = machine()
    docker_version = None
    docker_cli_ms = None
    if any(l.startswith("docker") for l in launchers) and shutil.which("docker"):
        code, out, _ = docker("version", "--format", "{{.Server.Version}}", timeout=60)
        docker_version = out.strip() if code == 0 else None
        cli = []
        for _ in range(10):
            started = time.perf_counter()
            subprocess.run(["docker", "--version"], capture_output=True)
            cli.append((time.perf_counter() - started) * 1000)
        docker_cli_ms = percentile(cli, 50)

    load_before = os.getloadavg()
    results = {lang_id: {} for lang_id in order}
    errors = []
    started_all = time.perf_counter()

    def attempt(lang_id, part, measure):
        reasons = missing.get((lang_id, part)) or missing.get(("*", part))
        if reasons:
            results[lang_id][part] = "missing: " + "; ".join(r.replace("{id}", lang_id) for r in dict.fromkeys(reasons))
            return
        print(f"… {lang_id} {part}", file=sys.stderr, flush=True)
        try:
            results[lang_id][part] = measure()
        except (BenchError, subprocess.TimeoutExpired, OSError, urllib.error.URLError) as err:
            results[lang_id][part] = f"error (see below)"
            errors.append(f"{lang_id} {part}: {err}")

    for lang_id in order:
        attempt(lang_id, "bare", lambda: bare(languages[lang_id], toolchain_path, args.bare_runs))
    # The baseline of the image's toolchain, for the parts that run the images.
    for lang_id in order:
        if images.get(lang_id):
            attempt(lang_id, "bare-image",
                    lambda: image_bare(languages[lang_id], args.image.format(id=lang_id), args.bare_runs))

    servers = {}
    for launcher in launchers:
        if launcher in SERVER_LAUNCHERS:
            if ("*", launcher) in missing or all((l, launcher) in missing for l in order):
                for lang_id in order:
                    attempt(lang_id, launcher, None)
                continue
            try:
                server = Server(gavel, launcher, server_options(gavel, launcher, args.image))
            except (BenchError, OSError, urllib.error.URLError) as err:
                errors.append(f"{launcher}: the server did not start: {err}")
                for lang_id in order:
                    results[lang_id][launcher] = "error: the server did not start"
                continue
            servers[launcher] = {"isolation": server.health.get("isolation"), "version": server.health.get("version"),
                                 "job_isolation": {}}
            try:
                for lang_id in order:
                    if (lang_id, launcher) in missing:
                        attempt(lang_id, launcher, None)
                    elif not server.languages.get(lang_id, {}).get("available"):
                        results[lang_id][launcher] = "unavailable on this server (GET /languages)"
                        continue
                    attempt(lang_id, launcher, lambda: through_server(server, lang_id, args.jobs))
                    cell = results[lang_id][launcher]
                    if isinstance(cell, dict) and isinstance(cell.get("isolation"), dict):
                        level = cell["isolation"].get("level")
                        servers[launcher]["job_isolation"].setdefault(level, []).append(lang_id)
            finally:
                server.stop()
        else:
            for lang_id in order:
                attempt(lang_id, launcher,
                        lambda: docker_exec(languages[lang_id], args.image.format(id=lang_id), args.jobs))
    total_s = time.perf_counter() - started_all

    print(file=table_out)
    print(f"# gavel launchers: {info['cores']} cores ({info['usable_cores']} usable, {info['cpu']}), "
          f"cgroup {info['cgroup']}, Linux {info['kernel']} {info['arch']}"
          + (f", docker {docker_version}" if docker_version else ""), file=table_out)
    print(f"# load average (1 min) {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after", file=table_out)
    for launcher, server in servers.items():
        isolation = server["isolation"] or {}
        level = isolation.get("level", isolation) if isinstance(isolation, dict) else isolation
        jobs = "; ".join(f"{lvl} ({', '.join(ids) if len(ids) < len(order) else 'all'})"
                         for lvl, ids in server["job_isolation"].items()) or "-"
        print(f"# gavel serve {('--launcher ' + launcher) if launcher != 'process' else '(process launcher)'}: "
              f"GET /health isolation {level}, jobs' isolation {jobs}, gavel {server['version']}", file=table_out)
    print(f"# bare: the host's toolchain, bare-image: the image's (all runs in one container); both {args.bare_runs} "
          f"runs after a warm-up, fork+exec'd by bash, timed by $EPOCHREALTIME", file=table_out)
    print(f"# jobs: {args.jobs} of 1 test and {args.jobs} of {TESTS} tests per launcher after a warm-up", file=table_out)
    print(f"# all in ms, nearest-rank median and p90. 1-/10-test job: POST → completed (process, docker); "
          f"docker run → docker rm -f (docker-exec)", file=table_out)
    print(f"# per test: the bare run; (T10 − T1)/9 of the medians (process, docker), ± its standard error "
          f"1.25·√((s²(T1) + s²(T10))/n)/9;", file=table_out)
    print(f"#   the `docker exec` of the run command (docker-exec)"
          + (f", of which the docker CLI's own start is {docker_cli_ms:.1f} ms" if docker_cli_ms else ""),
          file=table_out)
    print(f"# overhead/test = per test − bare (vs bare), − bare-image (vs img); in-box wall = the runner's "
          f"wall_time_ms of each test", file=table_out)
    print(file=table_out)
    table(results, order, launchers, table_out)
    print(f"\n# {total_s:.0f} s in all", file=table_out)
    if errors:
        print("\nerrors:", file=table_out)
        for error in errors:
            print(f"  {error}", file=table_out)

    if args.json:
        document = {"machine": info, "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "docker": docker_version, "docker_cli_ms": docker_cli_ms,
                    "servers": servers, "bare_runs": args.bare_runs, "jobs": args.jobs, "tests": TESTS,
                    "results": results, "errors": errors, "seconds": total_s}
        if args.json == "-":
            json.dump(document, sys.stdout, indent=2)
            print()
        else:
            with open(args.json, "w") as f:
                json.dump(document, f, indent=2)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
