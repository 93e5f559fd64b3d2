#!/usr/bin/env bash
# Installs the rivals' real client packages the compatibility tests drive, at pinned versions:
# PyPI's into $REPO/.venv/compat (tests/clients/requirements.txt), npm's into
# tests/clients/node_modules (tests/clients/package.json). Prints the two variables the tests read:
#
#   eval "$(infra/scripts/compat-clients.sh)"
#   # GAVEL_TEST_COMPAT_PYTHON=.../.venv/compat/bin/python  GAVEL_TEST_COMPAT_NODE_DIR=.../tests/clients
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="$REPO/.venv/compat"
CLIENTS="$REPO/tests/clients"

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV" >&2
  python3 -m venv "$VENV"
fi
# pip check of what is there first, so a warm run does not touch the network.
if ! "$VENV/bin/python" - "$CLIENTS/requirements.txt" <<'PY' >/dev/null 2>&1
import sys
from importlib.metadata import version
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if line:
        name, pinned = line.split("==")
        assert version(name) == pinned, name
PY
then
  echo "installing $CLIENTS/requirements.txt into $VENV" >&2
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$CLIENTS/requirements.txt"
fi
if [ "$(node -p 'require(process.argv[1]).version' "$CLIENTS/node_modules/piston-client/package.json" 2>/dev/null)" != 1.0.2 ]; then
  echo "installing $CLIENTS/package.json" >&2
  (cd "$CLIENTS" && npm install --no-fund --no-audit --no-package-lock --silent >&2)
fi
echo "export GAVEL_TEST_COMPAT_PYTHON=$VENV/bin/python"
echo "export GAVEL_TEST_COMPAT_NODE_DIR=$CLIENTS"
