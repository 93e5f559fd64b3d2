"""Drives Gavel's Piston API with PyPI ultra-piston==1.0.1, as its users write it.

Env: PISTON_BASE_URL (e.g. http://127.0.0.1:2000/api/v2/) and GAVEL_PROGRAMS (a JSON file of
every language's test programs, from tests/it/languages.rs). Exits non-zero, saying why, when
Gavel answers differently from what these checks expect.
"""

import asyncio
import json
import os

from ultra_piston import File, PistonClient
from ultra_piston.errors import BadRequestError

BASE_URL = os.environ["PISTON_BASE_URL"]
with open(os.environ["GAVEL_PROGRAMS"], encoding="utf-8") as f:
    PROGRAMS = json.load(f)

client = PistonClient(base_url=BASE_URL, rate_limit=0)

runtimes = {runtime.language: runtime for runtime in client.get_runtimes()}
for language in ["python", "c++", "java", "rust"]:
    assert language in runtimes, f"{language} is not among the runtimes: {list(runtimes)}"
assert "py3" in runtimes["python"].aliases, runtimes["python"]
assert runtimes["c++"].runtime == "gcc" and runtimes["python"].runtime is None, runtimes

# Hello world in a few languages; ultra-piston's pydantic models insist on Piston's field types.
for gavel_id, language in [("python", "python"), ("cpp", "c++"), ("java", "java"), ("rust", "rust")]:
    res = client.post_execute(
        language=language, version="*", file=File(content=PROGRAMS[gavel_id]["hello"]), run_timeout=15000
    )
    assert (res.language, res.version) == (language, runtimes[language].version), res
    assert res.run.stdout == "hello, world\n" and res.run.code == 0 and res.run.signal is None, res
    assert (res.compile is None) == (gavel_id == "python"), res
    print(f"{language} {res.version}: ok")

# An exact version and an alias.
version = runtimes["python"].version
res = client.post_execute(language="py", version=version, file=File(content="print(6 * 7)"))
assert res.run.stdout == "42\n" and res.language == "python", res

# stdin and args (stdin gets Piston's trailing newline).
argv = "import json, sys\nprint(json.dumps(sys.argv[1:]))\nsys.stdout.write(sys.stdin.read())"
res = client.post_execute(language="python", version="3", file=File(content=argv), stdin="abc", args=["-n", "2"])
assert res.run.stdout == '["-n", "2"]\nabc\n', res

# A compile error: run is compile's copy, the diagnostics on stderr.
res = client.post_execute(language="c++", version="*", file=File(content=PROGRAMS["cpp"]["compile_error"]))
assert res.compile is not None and res.compile.code not in (0, None), res
assert "undeclared_name" in res.run.stderr and res.run.model_dump() == res.compile.model_dump(), res

# The memory limit ultra-piston exposes, in bytes: the program is killed.
res = client.post_execute(
    language="python",
    version="*",
    file=File(content=PROGRAMS["python"]["memory_hog"]),
    run_memory_limit=128 * 1024 * 1024,
)
assert res.run.signal == "SIGKILL" and res.run.code is None, res

# The wall time limit.
res = client.post_execute(
    language="python", version="*", file=File(content=PROGRAMS["python"]["busy_loop"]), run_timeout=1000
)
assert res.run.signal == "SIGKILL", res

# A version nobody has is Piston's 400.
try:
    client.post_execute(language="python", version="2.7.0", file=File(content="print(1)"))
except BadRequestError as err:
    assert err.status_code == 400, err
else:
    raise AssertionError("python 2.7.0 should be refused")

packages = client.get_packages()
assert packages and all(package.installed for package in packages), packages
assert "gcc" in {package.language for package in packages}, packages


async def async_run():
    res = await client.post_execute_async(language="bash", version="*", file=File(content="echo async"))
    assert res.run.stdout == "async\n", res


asyncio.run(async_run())
print("ultra-piston: all checks passed")
