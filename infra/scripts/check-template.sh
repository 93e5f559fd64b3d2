#!/usr/bin/env bash
# Checks Gavel's AWS deployment assets, offline and without AWS credentials.
#
#   infra/scripts/check-template.sh lint    # cfn-lint on template.yaml and infra/network.yaml,
#                                           # then sam validate --lint
#   infra/scripts/check-template.sh build   # sam build (cargo-lambda, x86_64) -> three bootstrap
#                                           # binaries under target/sam/build, checked to be ELF x86-64
#   infra/scripts/check-template.sh all     # both (what scripts/test-all runs)
#   infra/scripts/check-template.sh tools   # only install the tools
#   infra/scripts/check-template.sh fresh   # build only if target/sam/build is missing or older
#                                           # than the sources (what infra/scripts/sam-local.sh runs)
#
# The tools go into the repo's virtualenv $REPO/.venv/sam (created if absent), pinned below:
# cfn-lint, aws-sam-cli, cargo-lambda and ziglang (cargo-lambda links with zig). Building needs
# the Rust toolchain already on the machine and no extra rustup target (x86_64 only). A clean
# build takes several minutes (about 9 on 2 cores); later ones about a minute per function.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
VENV="$REPO/.venv/sam"
BUILD_DIR="$REPO/target/sam/build"
FUNCTIONS=(ApiFunction DispatchFunction CompleteFunction)

CFN_LINT_VERSION=1.58.0
SAM_CLI_VERSION=1.170.0
CARGO_LAMBDA_VERSION=1.9.2
ZIGLANG_VERSION=0.17.1

# Offline, credential-free, quiet.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
export AWS_REGION="${AWS_REGION:-$AWS_DEFAULT_REGION}"
export SAM_CLI_TELEMETRY=0
export AWS_EC2_METADATA_DISABLED=true
# The venv's tools first: sam finds cargo-lambda, cargo-lambda finds zig (python -m ziglang).
export PATH="$VENV/bin:$PATH"

die() {
  echo "check-template: FAIL: $*" >&2
  exit 1
}
step() { echo "check-template: $*"; }

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

installed_version() {
  "$VENV/bin/python" -m pip show "$1" 2>/dev/null | sed -n 's/^Version: //p'
}

install_tools() {
  if [ ! -x "$VENV/bin/python" ]; then
    step "creating $VENV"
    python3 -m venv "$VENV" || die "python3 -m venv $VENV failed (is python3-venv installed?)"
  fi
  local want=() spec name version
  for spec in "cfn-lint==$CFN_LINT_VERSION" "aws-sam-cli==$SAM_CLI_VERSION" \
    "cargo-lambda==$CARGO_LAMBDA_VERSION" "ziglang==$ZIGLANG_VERSION"; do
    name="${spec%%==*}"
    version="${spec##*==}"
    [ "$(installed_version "$name")" = "$version" ] || want+=("$spec")
  done
  if [ ${#want[@]} -gt 0 ]; then
    step "installing into $VENV: ${want[*]}"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${want[@]}" \
      || die "pip install ${want[*]} failed"
  fi
  for tool in cfn-lint sam cargo-lambda; do
    [ -x "$VENV/bin/$tool" ] || die "$VENV/bin/$tool is missing after installation"
  done
  "$VENV/bin/python" -m ziglang version >/dev/null 2>&1 || die "zig (python -m ziglang) does not run"
}

lint() {
  cd "$REPO"
  step "cfn-lint $(cfn-lint --version 2>&1 | awk '{print $2}'): template.yaml infra/network.yaml"
  # Exit codes: 2 = an error, 4 = a warning, 8 = informational. Errors fail; warnings are shown.
  local rc=0
  cfn-lint --format parseable -- template.yaml infra/network.yaml || rc=$?
  if [ $((rc & 2)) -ne 0 ] || [ $((rc & ~(2 | 4 | 8))) -ne 0 ]; then
    die "cfn-lint found errors (exit $rc) in template.yaml or infra/network.yaml"
  fi
  [ $((rc & 4)) -ne 0 ] && step "cfn-lint: warnings above (not fatal)"

  step "sam validate --lint"
  sam validate --lint --template-file template.yaml --region "$AWS_DEFAULT_REGION" \
    || die "sam validate --lint rejected template.yaml"

  step "what the functions and runners rely on"
  "$VENV/bin/python" - "$REPO/template.yaml" <<'PY' || die "template.yaml breaks what the functions or runners rely on"
import sys
from cfnlint.decode import decode

template, errors = decode(sys.argv[1])
if errors:
    sys.exit(f"  cannot read the template: {errors}")
resources = template["Resources"]
env = template["Globals"]["Function"]["Environment"]["Variables"]
problems = []
# The runner refuses programs below GAVEL_ISOLATION (default full); on Fargate the task is the boundary.
tasks = {name: r for name, r in resources.items() if r["Type"] == "AWS::ECS::TaskDefinition"}
for name, task in tasks.items():
    for container in task["Properties"]["ContainerDefinitions"]:
        values = {e["Name"]: e["Value"] for e in container.get("Environment", [])}
        if values.get("GAVEL_ISOLATION") != "container":
            problems.append(f"{name}/{container['Name']}: GAVEL_ISOLATION is not container")
# Dispatch fails a job on its message's last receive: it must know the queue's maxReceiveCount.
redrive = resources["JobsQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
if env.get("GAVEL_MAX_RECEIVES") != redrive:
    problems.append(f"GAVEL_MAX_RECEIVES {env.get('GAVEL_MAX_RECEIVES')} is not the jobs queue's maxReceiveCount {redrive}")
if resources["CompleteFunction"]["Properties"].get("MemorySize") != {"Ref": "CompleteMemorySize"}:
    problems.append("CompleteFunction's MemorySize is not the CompleteMemorySize parameter")
if env.get("GAVEL_JOB_OUTPUT_MAX_KB") != {"Ref": "JobOutputMaxKb"}:
    problems.append("GAVEL_JOB_OUTPUT_MAX_KB is not the JobOutputMaxKb parameter")
for problem in problems:
    print(f"  {problem}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"  {len(tasks)} runner task definitions at GAVEL_ISOLATION=container; GAVEL_MAX_RECEIVES = maxReceiveCount")
PY

  step "JSON of infra/events and infra/local/env.json"
  "$VENV/bin/python" - "$REPO" <<'PY' || die "an event fixture or env file is not valid JSON"
import json, pathlib, sys
repo = pathlib.Path(sys.argv[1])
files = sorted((repo / "infra" / "events").glob("*.json")) + [repo / "infra" / "local" / "env.json"]
for path in files:
    json.loads(path.read_text())
print(f"  {len(files)} files parse")
PY
  step "lint: OK"
}

build() {
  cd "$REPO"
  local started=$SECONDS
  step "sam build (cargo-lambda $(cargo-lambda lambda --version 2>/dev/null | awk '{print $2}'), x86_64) into ${BUILD_DIR#"$REPO"/}"
  # The Lambda crates are workspace members: CodeUri is the workspace root and each function
  # names its binary (Metadata.BuildProperties.Binary); cargo-lambda builds in place into
  # target/x86_64-unknown-linux-gnu and target/lambda.
  sam build --template-file template.yaml --build-dir "$BUILD_DIR" \
    --parameter-overrides Architecture=x86_64 --region "$AWS_DEFAULT_REGION" \
    || die "sam build failed (see the cargo-lambda output above)"

  [ -f "$BUILD_DIR/template.yaml" ] || die "sam build wrote no $BUILD_DIR/template.yaml"
  local function binary description
  for function in "${FUNCTIONS[@]}"; do
    binary="$BUILD_DIR/$function/bootstrap"
    [ -f "$binary" ] || die "$function: no bootstrap binary at $binary"
    [ -x "$binary" ] || die "$function: $binary is not executable"
    description="$(elf_description "$binary")" || die "$function: $binary is not an ELF file"
    case "$description" in
      "ELF64 x86-64"*) ;;
      *) die "$function: $binary is $description, not ELF x86-64" ;;
    esac
    printf 'check-template:   %-17s %s  %s bytes  (%s)\n' "$function" "${binary#"$REPO"/}" \
      "$(stat -c %s "$binary")" "$description"
  done
  step "build: OK in $((SECONDS - started)) s"
}

# True when target/sam/build has the three binaries and its template is newer than every source
# that goes into them (the template, the workspace manifests, the function crates).
build_is_fresh() {
  local function stale
  [ -f "$BUILD_DIR/template.yaml" ] || return 1
  for function in "${FUNCTIONS[@]}"; do
    [ -x "$BUILD_DIR/$function/bootstrap" ] || return 1
  done
  stale="$(find "$REPO/template.yaml" "$REPO/Cargo.toml" "$REPO/Cargo.lock" "$REPO/functions" \
    -type f -newer "$BUILD_DIR/template.yaml" -print -quit)"
  if [ -n "$stale" ]; then
    step "${stale#"$REPO"/} is newer than ${BUILD_DIR#"$REPO"/}"
    return 1
  fi
}

# "ELF64 x86-64 executable" from the ELF header itself (no dependency on file(1)).
elf_description() {
  "$VENV/bin/python" - "$1" <<'PY'
import struct, sys
with open(sys.argv[1], "rb") as f:
    header = f.read(20)
if len(header) < 20 or header[:4] != b"\x7fELF":
    sys.exit(1)
bits = {1: "ELF32", 2: "ELF64"}.get(header[4], "ELF?")
endian = "<" if header[5] == 1 else ">"
e_type, e_machine = struct.unpack(endian + "HH", header[16:20])
machine = {0x3E: "x86-64", 0xB7: "aarch64", 0x03: "x86"}.get(e_machine, f"machine {e_machine:#x}")
kind = {2: "executable", 3: "shared object (PIE)"}.get(e_type, f"type {e_type}")
print(f"{bits} {machine} {kind}")
PY
}

case "${1:-}" in
  tools) install_tools ;;
  lint)
    install_tools
    lint
    ;;
  build)
    install_tools
    build
    ;;
  all)
    install_tools
    lint
    build
    ;;
  fresh)
    install_tools
    if build_is_fresh; then
      step "${BUILD_DIR#"$REPO"/} is up to date"
    else
      build
    fi
    ;;
  *) usage ;;
esac
