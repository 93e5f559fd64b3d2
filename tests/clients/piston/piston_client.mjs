// Drives Gavel's Piston API with npm piston-client@1.0.2, as its users write it.
// Env: PISTON_SERVER (Gavel's Piston listener, e.g. http://127.0.0.1:2000) and GAVEL_PROGRAMS (a
// JSON file of every language's test programs, from tests/it/languages.rs). Run from the folder
// holding node_modules/piston-client (tests/it/piston.rs runs it so); exits non-zero, saying
// why, when Gavel answers differently from what these checks expect.
import piston from "piston-client";
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";

const server = process.env.PISTON_SERVER;
assert.ok(server, "PISTON_SERVER is not set");
const programs = JSON.parse(readFileSync(process.env.GAVEL_PROGRAMS, "utf8"));
// Gavel's language ids whose Piston name differs.
const pistonName = (id) => ({ cpp: "c++" })[id] ?? id;
const show = (value) => JSON.stringify(value, null, 1);

const client = piston({ server });
const runtimes = await client.runtimes();
assert.ok(Array.isArray(runtimes), `runtimes is not a list: ${show(runtimes)}`);
const version = (language) => runtimes.find((r) => r.language === language)?.version;

// Every language: hello world, compiled ones with a compile stage. Slow starters (the JVM, Mono)
// get more than Piston's default 3 s of wall time on a busy machine.
for (const id of Object.keys(programs)) {
  const language = pistonName(id);
  assert.ok(version(language), `${language} is not among the runtimes: ${show(runtimes)}`);
  const r = await client.execute(language, programs[id].hello, { runTimeout: 15000 });
  assert.equal(r.language, language, `${language}: ${show(r)}`);
  assert.equal(r.version, version(language), `${language}: ${show(r)}`);
  assert.equal(r.run?.stdout, "hello, world\n", `${language} hello: ${show(r)}`);
  assert.equal(r.run.output, "hello, world\n", `${language} hello: ${show(r)}`);
  assert.equal(r.run.stderr, "", `${language} hello: ${show(r)}`);
  assert.deepEqual([r.run.code, r.run.signal, r.run.status, r.run.message], [0, null, null, null], `${language}: ${show(r)}`);
  const measured = [r.run.cpu_time, r.run.wall_time, r.run.memory].every(Number.isInteger);
  assert.ok(measured && r.run.memory > 0, `${language} measures: ${show(r)}`);
  if (programs[id].compile_error !== null) {
    assert.equal(r.compile?.code, 0, `${language} compiles: ${show(r)}`);
  } else {
    assert.equal(r.compile, undefined, `${language} has no compile stage: ${show(r)}`);
  }
  console.log(`${language} ${r.version}: ok`);
}

// A compile error: the compiler's diagnostics on stderr, and run is a copy of compile.
const ce = await client.execute("c++", programs.cpp.compile_error);
assert.notEqual(ce.compile?.code, 0, `compile error: ${show(ce)}`);
assert.equal(ce.compile.status, "RE", `compile error: ${show(ce)}`);
assert.match(ce.compile.stderr, /undeclared_name/, `compile error: ${show(ce)}`);
assert.equal(ce.compile.output, ce.compile.stderr);
assert.deepEqual(ce.run, ce.compile, `run is compile's copy: ${show(ce)}`);

// A runtime error keeps its exit code.
const re = await client.execute("python", programs.python.exit_3);
assert.deepEqual([re.run.status, re.run.code, re.run.message], ["RE", 3, "Exited with error status 3"], show(re));

// Over the wall time: TO, killed.
const to = await client.execute("python", programs.python.busy_loop, { runTimeout: 1000 });
assert.deepEqual([to.run.status, to.run.signal, to.run.code], ["TO", "SIGKILL", null], show(to));
assert.ok(to.run.wall_time >= 1000, show(to));

// Over the memory limit: killed.
const oom = await client.execute("python", programs.python.memory_hog, { runMemoryLimit: 128 * 1024 * 1024 });
assert.deepEqual([oom.run.status, oom.run.signal], ["SG", "SIGKILL"], show(oom));

// argv and stdin: piston-client sends args ["1", "2", "3"] unless told otherwise, and Gavel adds
// the newline Piston adds to stdin.
const argv = "import json, sys\nprint(json.dumps(sys.argv[1:]))\nsys.stdout.write(sys.stdin.read())";
const a = await client.execute("python", argv, { stdin: "abc" });
assert.equal(a.run.stdout, '["1", "2", "3"]\nabc\n', show(a));
const b = await client.execute("python", argv, { args: ["two words", "ü", ""], stdin: "x\ny\n" });
assert.equal(b.run.stdout, '["two words", "\\u00fc", ""]\nx\ny\n', show(b));

// Both streams, in the order they were written. The program waits until each write was read
// before the next (FIONREAD on its end of the pipe), so the order is the one it wrote, not a race.
const streams = [
  "import fcntl, os, struct, termios",
  "def write(fd, text):",
  "    os.write(fd, text)",
  "    while struct.unpack('i', fcntl.ioctl(fd, termios.FIONREAD, bytes(4)))[0]:",
  "        os.sched_yield()",
  "write(1, b'1\\n'); write(2, b'2\\n'); write(1, b'3\\n')",
].join("\n");
const s = await client.execute("python", streams);
assert.deepEqual([s.run.stdout, s.run.stderr, s.run.output], ["1\n3\n", "2\n", "1\n2\n3\n"], show(s));

// Refusals come back as Piston's bodies (piston-client returns them as they are).
const unknown = await client.execute("python", "print(1)", { version: "2.7.0" });
assert.deepEqual(unknown, { message: "python-2.7.0 runtime is unknown" });
// With an alias and no version, piston-client finds no runtime of that exact name and sends none.
const alias = await client.execute("py", "print(1)");
assert.deepEqual(alias, { message: "version is required as a string" });

console.log("piston-client: all checks passed");
