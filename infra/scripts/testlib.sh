#!/usr/bin/env bash
# Brings testlib (testlib.h 0.9.44 and its standard checkers wcmp, ncmp, dcmp, yesno, unchanged:
# byte for byte the files of MikeMirzayanov/testlib as of its 0.9.44 release) for the custom
# checker tests. They come from PyPI inside the rbx.cp 2.3.3 wheel (rbx/resources/predownloaded/),
# pinned by its sha256, downloaded once without its dependencies into target/testlib/. Prints the
# variable the tests read:
#
#   eval "$(infra/scripts/testlib.sh)"
#   # GAVEL_TEST_TESTLIB_DIR=.../target/testlib  (testlib.h, checkers/*.cpp)
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
DIR="$REPO/target/testlib"
WHEEL=rbx_cp-2.3.3-py3-none-any.whl
WHEEL_SHA256=630f573fa97b5911f9217a43f92a33768c623e1a71c8a20e601c1d12013f49fa
# testlib.h of testlib 0.9.44, whatever carried it here.
TESTLIB_SHA256=26facaf1259071eb14ff9e011b6b50473a14ab0e0a8e702087b73cffd1fb1b90

have() { [ -f "$DIR/testlib.h" ] && [ "$(sha256sum "$DIR/testlib.h" | cut -d' ' -f1)" = "$TESTLIB_SHA256" ]; }

if ! have; then
  echo "fetching testlib ($WHEEL) into $DIR" >&2
  download="$(mktemp -d)"
  trap 'rm -rf "$download"' EXIT
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary :all: \
    --dest "$download" rbx.cp==2.3.3 >&2
  [ "$(sha256sum "$download/$WHEEL" | cut -d' ' -f1)" = "$WHEEL_SHA256" ] ||
    { echo "testlib.sh: $WHEEL does not have the pinned sha256" >&2; exit 1; }
  rm -rf "$DIR"
  mkdir -p "$DIR"
  python3 - "$download/$WHEEL" "$DIR" <<'PY'
import sys, zipfile, pathlib
wheel, out = sys.argv[1], pathlib.Path(sys.argv[2])
prefix = "rbx/resources/predownloaded/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        rest = name[len(prefix):]
        if name.startswith(prefix) and (rest == "testlib.h" or rest.startswith("checkers/")) and not name.endswith("/"):
            target = out / rest
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(name))
PY
  have || { echo "testlib.sh: the wheel's testlib.h is not testlib 0.9.44's" >&2; exit 1; }
fi
echo "export GAVEL_TEST_TESTLIB_DIR=$DIR"
