#!/usr/bin/env python3
"""Per-test and per-job cost of each way of running a program, for every catalogue language.

For each language, the same hello/echo program (reads a line, prints "hello, <line>"):

  bare         compiled once on the host, then the catalogue's run command fork+exec'd directly
               with the test's input on stdin: the baseline cost of one test run;
  process      `gavel serve` (process launcher): POST /execute → completed (long poll), for a
               1-test and a 10-test job; per test = (T10 − T1) / 9;
  docker       the same through `gavel serve --launcher docker` (one container per job);
  docker-exec  the original service's way: `docker run -d` a container from gavel-<id>:latest kept
               alive with `sleep infinity`, the source copied in, compiled once and run once per
               test with `docker exec`, then `docker rm -f`; per test = median(docker exec run),
               end-to-end from `docker run` to the end of `docker rm`.

Overhead per test = per test − bare. The compile and run commands are the catalogue's own, read
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
# Bare: the host toolchain, no sandbox.

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
        samples = []
        cases = tests(TESTS)
        for i in range(runs + 1):  # the first run warms the page cache and is not counted
            case = cases[i % len(cases)]
            started = time.perf_counter()
            done = subprocess.run(lang["run"], cwd=work, env=env, input=case["input"].encode(),
                                  capture_output=True, timeout=60)
            elapsed = (time.perf_counter() - started) * 1000
            out = done.stdout.decode(errors="replace")
            if done.returncode != 0 or not same_output(out, case["expected_output"]):
                raise BenchError(f"bare run failed ({done.returncode}): {out[:200]!r} "
                                 f"{done.stderr.decode(errors='replace')[-300:]}")
            if i:
                samples.append(elapsed)
        return {"per_test": summary(samples), "compile_ms": compile_ms}
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Through `gavel serve`.

class Server:
    """`gavel serve` on a free loopback port with a data dir of its own."""

    def __init__(self, gavel, launcher):
        self.data_dir = tempfile.mkdtemp(prefix=f"gavel-bench-{launcher}-")
        self.log_path = os.path.join(self.data_dir, "serve.log")
        argv = [gavel, "serve", "--addr", "127.0.0.1:0", "--data-dir", os.path.join(self.data_dir, "data")]
        if launcher != "process":
            argv += ["--launcher", launcher]
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, text=True)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l) for l in self.process.stdout], daemon=True).start()
        deadline = time.monotonic() + 120
        self.base = None
        while self.base is None:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                self.stop()
                raise BenchError(f"`{' '.join(argv)}` did not say where it listens within 120 s; "
                                 f"log:\n{self.log_tail()}")
            found = re.search(r"gavel listening on (\S+)", line)
            if found:
                self.base = found.group(1).rstrip("/")
        self.health = self.get("/health")
        self.languages = {lang["id"]: lang for lang in self.get("/languages")}

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


def docker_exec_job(lang, image, cases):
    """One job: (docker run → docker rm ms, [docker exec run ms per test], compile ms)."""
    env = ["-e", "HOME=/tmp/w", "-e", "LANG=C.UTF-8"]
    for name, value in lang["env"].items():
        env += ["-e", f"{name}={value}"]
    started = time.perf_counter()
    code, out, err = docker("run", "-d", "--network", "none", "--tmpfs", "/tmp:exec",
                            "--entrypoint", "sleep", image, "infinity")
    if code != 0:
        raise BenchError(f"docker run {image} failed: {err.strip()[-300:]}")
    container = out.strip()
    try:
        code, out, err = docker("exec", "-i", container, "sh", "-c",
                                f"mkdir -p /tmp/w && cat > /tmp/w/{lang['source_file']}",
                                stdin=HELLO[lang["id"]].encode())
        if code != 0:
            raise BenchError(f"copying the source into {image} failed: {err.strip()[-300:]}")
        compile_ms = None
        if lang["compile"]:
            compile_started = time.perf_counter()
            code, out, err = docker("exec", "-w", "/tmp/w", *env, container, *lang["compile"])
            compile_ms = (time.perf_counter() - compile_started) * 1000
            if code != 0:
                raise BenchError(f"compile in {image} failed ({code}): {(out + err).strip()[-500:]}")
        runs = []
        for case in cases:
            run_started = time.perf_counter()
            code, out, err = docker("exec", "-i", "-w", "/tmp/w", *env, container, *lang["run"],
                                    stdin=case["input"].encode(), timeout=60)
            runs.append((time.perf_counter() - run_started) * 1000)
            if code != 0 or not same_output(out, case["expected_output"]):
                raise BenchError(f"run in {image} failed ({code}): {out[:200]!r} {err.strip()[-300:]}")
    finally:
        code, _, err = docker("rm", "-f", container)
    if code != 0:
        raise BenchError(f"docker rm -f {container} failed: {err.strip()[-300:]}")
    return (time.perf_counter() - started) * 1000, runs, compile_ms


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

def gavel_binary(path):
    runner = os.path.join(os.path.dirname(path), "gavel-runner")
    missing = [f"{p} (build it: cargo build --release --workspace --bins)" for p in (path, runner)
               if not os.access(p, os.X_OK)]
    return missing


def docker_launcher_missing(gavel):
    done = subprocess.run([gavel, "serve", "--help"], capture_output=True, text=True, timeout=60)
    text = done.stdout + done.stderr
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
    head = (f"{'language':<11} {'via':<12} {'1-test job':>15} {'10-test job':>15} "
            f"{'per test':>15} {'overhead':>8} {'in-box wall':>15}")
    sub = (f"{'':<11} {'':<12} {'med':>7} {'p90':>7} {'med':>7} {'p90':>7} {'med':>7} {'p90':>7} "
           f"{'/test':>8} {'med':>7} {'p90':>7}")
    sub = sub.replace(f"{'med':>7} {'p90':>7} {'/test':>8}", f"{'med':>7} {'p90/±':>7} {'/test':>8}")
    print(head, file=out)
    print(sub, file=out)
    for lang_id in order:
        cells = results[lang_id]
        base = cells.get("bare")
        bare_ms = base["per_test"]["median"] if isinstance(base, dict) else None
        for via in ("bare", *launchers):
            cell = cells.get(via)
            if not isinstance(cell, dict):
                print(f"{lang_id:<11} {via:<12} {cell or 'not run'}", file=out)
                continue
            if via == "bare":
                per, per90, j1, j10, box = cell["per_test"]["median"], cell["per_test"]["p90"], {}, {}, {}
            elif via == "docker-exec":
                per, per90 = cell["exec_run"]["median"], cell["exec_run"]["p90"]
                j1, j10, box = cell["job_1"], cell["job_10"], {}
            else:
                per, j1, j10, box = cell["per_test_ms"], cell["job_1"], cell["job_10"], cell["box_wall_ms"]
                per90 = f"±{cell['per_test_se_ms']:.1f}"
            overhead = per - bare_ms if via != "bare" and bare_ms is not None else None
            print(f"{lang_id:<11} {via:<12} {fmt(j1.get('median'))} {fmt(j1.get('p90'))} "
                  f"{fmt(j10.get('median'))} {fmt(j10.get('p90'))} {fmt(per)} {fmt(per90)} "
                  f"{fmt(overhead, 8)} {fmt(box.get('median'))} {fmt(box.get('p90'))}", file=out)


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
    parser.add_argument("--image", default="gavel-{id}:latest", help="runner image per language (gavel-{id}:latest)")
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
    table_out = sys.stderr if args.json == "-" else sys.stdout

    # Everything missing, per part, before anything runs.
    missing = {}  # (language or "*", part) -> [reasons, "{id}" standing for the language]
    for lang_id in order:
        reasons = host_toolchain_missing(languages[lang_id], toolchain_path)
        if reasons:
            missing[(lang_id, "bare")] = reasons
    if any(l in SERVER_LAUNCHERS for l in launchers):
        reasons = gavel_binary(gavel)
        for launcher in SERVER_LAUNCHERS:
            if launcher in launchers and reasons:
                missing[("*", launcher)] = list(reasons)
    if "docker" in launchers and ("*", "docker") not in missing:
        reasons = docker_launcher_missing(gavel)
        if reasons:
            missing[("*", "docker")] = reasons
    if "docker" in launchers or "docker-exec" in launchers:
        daemon = docker_daemon_missing()
        for launcher in ("docker", "docker-exec"):
            if launcher in launchers:
                if daemon:
                    missing.setdefault(("*", launcher), []).extend(daemon)
                else:
                    for lang_id in order:
                        image = args.image.format(id=lang_id)
                        if image_missing(image):
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

    servers = {}
    for launcher in launchers:
        if launcher in SERVER_LAUNCHERS:
            if ("*", launcher) in missing:
                for lang_id in order:
                    attempt(lang_id, launcher, None)
                continue
            try:
                server = Server(gavel, launcher)
            except (BenchError, OSError, urllib.error.URLError) as err:
                errors.append(f"{launcher}: the server did not start: {err}")
                for lang_id in order:
                    results[lang_id][launcher] = "error: the server did not start"
                continue
            servers[launcher] = {"isolation": server.health.get("isolation"), "version": server.health.get("version")}
            try:
                for lang_id in order:
                    if not server.languages.get(lang_id, {}).get("available"):
                        results[lang_id][launcher] = "unavailable on this server (GET /languages)"
                        continue
                    attempt(lang_id, launcher, lambda: through_server(server, lang_id, args.jobs))
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
    for launcher, server in servers.items():
        isolation = server["isolation"] or {}
        level = isolation.get("level", isolation) if isinstance(isolation, dict) else isolation
        print(f"# gavel serve {('--launcher ' + launcher) if launcher != 'process' else '(process launcher)'}: "
              f"isolation {level}, gavel {server['version']}", file=table_out)
    print(f"# bare: median of {args.bare_runs} runs after a warm-up; jobs: {args.jobs} of 1 test and "
          f"{args.jobs} of {TESTS} tests per launcher after a warm-up; all in ms, nearest-rank median/p90",
          file=table_out)
    print(f"# 1-/10-test job: POST → completed (process, docker); docker run → docker rm -f (docker-exec)",
          file=table_out)
    print(f"# per test: bare run; (T10 − T1)/9 of the medians (process, docker); docker exec of the run "
          f"command (docker-exec)", file=table_out)
    print(f"# ±: the standard error of (T10 − T1)/9, 1.25·√((s²(T1) + s²(T10))/n)/9; a compile's jitter "
          f"lands in it", file=table_out)
    print(f"# overhead/test = per test − bare; in-box wall = the runner's wall_time_ms of each test"
          + (f"; the docker CLI alone starts in {docker_cli_ms:.1f} ms" if docker_cli_ms else ""), file=table_out)
    print(file=table_out)
    table(results, order, launchers, table_out)
    print(f"\n# {total_s:.0f} s in all", file=table_out)
    if errors:
        print("\nerrors:", file=table_out)
        for error in errors:
            print(f"  {error}", file=table_out)

    if args.json:
        document = {"machine": info, "docker": docker_version, "docker_cli_ms": docker_cli_ms,
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
