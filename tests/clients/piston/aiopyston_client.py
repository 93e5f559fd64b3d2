"""Drives Gavel's Piston API with PyPI aiopyston==1.2.1 (`import pyston`), as its users write it.

Env: PISTON_BASE_URL (e.g. http://127.0.0.1:8080/api/v2/piston/; aiopyston needs the trailing
slash and posts to `execute/`) and GAVEL_PROGRAMS (a JSON file of every language's test
programs, from tests/it/languages.rs). Exits non-zero, saying why, when Gavel answers differently
from what these checks expect.
"""

import asyncio
import json
import os

from pyston import File, PystonClient
from pyston.exceptions import ExecutionError

BASE_URL = os.environ["PISTON_BASE_URL"]
with open(os.environ["GAVEL_PROGRAMS"], encoding="utf-8") as f:
    PROGRAMS = json.load(f)


async def main():
    # aiopyston takes the running loop when it is made, so it is made in here.
    client = PystonClient(base_url=BASE_URL)
    try:
        await checks(client)
    finally:
        await client.close_session()


async def checks(client):
    languages = await client.languages()
    for language in ["python", "c++", "go"]:
        assert language in languages, f"{language} is not among {languages}"
    assert any(r.language == "javascript" and r.runtime == "node" for r in await client.runtimes())

    for gavel_id, language in [("python", "python"), ("cpp", "c++"), ("go", "go")]:
        out = await client.execute(language, [File(PROGRAMS[gavel_id]["hello"])], run_timeout=15000)
        assert out.langauge == language, out.raw_json  # sic: aiopyston's spelling
        assert out.run_stage.stdout == "hello, world\n" and out.run_stage.code == 0, out.raw_json
        assert str(out) == "hello, world\n" and out.success, out.raw_json
        assert (out.compile_stage is None) == (gavel_id == "python"), out.raw_json
        print(f"{language} {out.version}: ok")

    # By alias, with stdin and args.
    argv = "import json, sys\nprint(json.dumps(sys.argv[1:]))\nsys.stdout.write(sys.stdin.read())"
    out = await client.execute("py", [File(argv, "main.py")], stdin="in", args=["a"])
    assert out.run_stage.stdout == '["a"]\nin\n', out.raw_json

    out = await client.execute("python", [File(PROGRAMS["python"]["exit_3"])])
    assert out.run_stage.code == 3 and out.raw_json["run"]["status"] == "RE", out.raw_json

    try:
        await client.execute("python", [File("print(1)")], version="2.7.0")
    except ExecutionError as err:
        assert str(err) == "python-2.7.0 runtime is unknown", err
    else:
        raise AssertionError("python 2.7.0 should be refused")


asyncio.run(main())
print("aiopyston: all checks passed")
