#!/usr/bin/env bash
# Builds the runner images, one per catalogue language (functions/gavel-core/src/language.rs), from
# runner-images/<id>/Dockerfile on the shared runner layer of runner-images/base (user, gavel-runner,
# /tmp; tagged PREFIXbase:TAG), and checks each: its labels, that the catalogue's version command
# prints the toolchain label, and that gavel-runner starts in it. With --push, pushes them to ECR in
# the account and region of the current AWS credentials and prints the `sam deploy` overrides.
#
#   infra/scripts/build-images.sh                    # every language
#   infra/scripts/build-images.sh python cpp         # only these
#   infra/scripts/build-images.sh --offline-base     # first build the base without a registry
#   infra/scripts/build-images.sh --push             # then push to ECR (creates the repositories)
#
# Environment:
#   GAVEL_IMAGE_PREFIX  local image name prefix (default gavel-): images are PREFIX<id>:TAG
#   GAVEL_IMAGE_TAG     local and pushed tag (default latest)
#   GAVEL_BASE_IMAGE    base image, passed as --build-arg BASE (default debian:bookworm-slim);
#                       offline-base.sh builds the same tag
#   GAVEL_OFFLINE_BASE  1: same as --offline-base
#   GAVEL_BUILD_CA      PEM file trusted by build stages that download from the npm registry
#                       (TLS-intercepting proxies); default: this host's local CAs in
#                       /usr/local/share/ca-certificates; empty: none. Never in a final image.
#   GAVEL_ECR_PREFIX    ECR repository prefix for --push (default gavel-): repositories PREFIX<id>
#   GAVEL_VERBOSE       1: stream `docker build` output instead of logging it to a file
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
CATALOGUE="$REPO/functions/gavel-core/src/language.rs"
PREFIX="${GAVEL_IMAGE_PREFIX:-gavel-}"
TAG="${GAVEL_IMAGE_TAG:-latest}"
BASE="${GAVEL_BASE_IMAGE:-debian:bookworm-slim}"
ECR_PREFIX="${GAVEL_ECR_PREFIX:-gavel-}"
STAGE="$REPO/target/runner-images"
# The directories every uid may write that the runner sweeps after each test (SHARED_DIRS in
# runner-images/gavel-runner/src/sandbox/degraded.rs), as a grep -E pattern.
SHARED_DIRS='/tmp|/var/tmp|/dev/shm|/dev/mqueue|/run/lock'
LABEL_LANGUAGE=dev.gavel.language
LABEL_TOOLCHAIN=dev.gavel.toolchain

die() {
  echo "build-images: $*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

offline_base="${GAVEL_OFFLINE_BASE:-0}"
push=0
no_cache=()
requested=()
while [ $# -gt 0 ]; do
  case "$1" in
    --offline-base) offline_base=1 ;;
    --push) push=1 ;;
    --no-cache) no_cache=(--no-cache) ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) requested+=("$1") ;;
  esac
  shift
done

# ---------------------------------------------------------------- the catalogue
[ -f "$CATALOGUE" ] || die "catalogue not found: $CATALOGUE"
mapfile -t catalogue_ids < <(sed -n 's/^[[:space:]]*id: "\([^"]*\)",[[:space:]]*$/\1/p' "$CATALOGUE")
[ "${#catalogue_ids[@]}" -gt 0 ] || die "no language ids found in $CATALOGUE"

# The catalogue's version command of one language, one word per line.
version_command() {
  awk -v id="$1" '
    $0 ~ "^[[:space:]]*id: \"" id "\",[[:space:]]*$" { found = 1; next }
    found && /^[[:space:]]*id: "/ { exit }
    found && /^[[:space:]]*version: &\[/ {
      line = $0
      sub(/^[^[]*\[/, "", line)
      sub(/\],[[:space:]]*$/, "", line)
      n = split(line, words, /"[[:space:]]*,[[:space:]]*"/)
      for (i = 1; i <= n; i++) { gsub(/^[[:space:]]*"|"[[:space:]]*$/, "", words[i]); print words[i] }
      exit
    }' "$CATALOGUE"
}

if [ "${#requested[@]}" -eq 0 ]; then
  languages=("${catalogue_ids[@]}")
else
  languages=()
  for id in "${requested[@]}"; do
    printf '%s\n' "${catalogue_ids[@]}" | grep -qxF -- "$id" ||
      die "unknown language '$id'; the catalogue has: ${catalogue_ids[*]}"
    languages+=("$id")
  done
fi
for id in "${languages[@]}"; do
  [ -f "$REPO/runner-images/$id/Dockerfile" ] || die "runner-images/$id/Dockerfile is missing"
  [ -n "$(version_command "$id")" ] || die "no version command for '$id' in $CATALOGUE"
done

# ---------------------------------------------------------------- prerequisites
command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "the Docker daemon is not reachable (is dockerd running? permissions?)"
command -v cargo >/dev/null || die "cargo is not installed (needed to build gavel-runner)"

# The images are built for the engine's architecture, with a gavel-runner built for this host's.
# Three version lines name the architecture; the Dockerfiles default to x86_64's.
engine_arch="$(docker info -f '{{ .Architecture }}')"
[ "$engine_arch" = "$(uname -m)" ] ||
  die "the Docker engine runs $engine_arch but this host is $(uname -m): gavel-runner would not run in the images"
arch_args=()
case "$engine_arch" in
  x86_64) ;;
  aarch64)
    arch_args=(--build-arg GO_ARCH=arm64 --build-arg RUBY_PLATFORM=aarch64-linux-gnu
      --build-arg BASH_HOST=aarch64-unknown-linux-gnu) ;;
  *) echo "note: untested architecture $engine_arch; toolchain labels may need other ARGs" >&2 ;;
esac

if [ "$offline_base" = 1 ]; then
  GAVEL_BASE_IMAGE="$BASE" "$REPO/infra/scripts/offline-base.sh"
elif ! docker image inspect "$BASE" >/dev/null 2>&1; then
  echo "note: base image $BASE is not present; docker will try to pull it (without a registry, use --offline-base)" >&2
fi

echo "building gavel-runner (cargo build --release --locked -p gavel-runner)" >&2
(cd "$REPO" && cargo build --release --locked -p gavel-runner) || die "cargo build of gavel-runner failed"
RUNNER="$REPO/target/release/gavel-runner"
[ -x "$RUNNER" ] || die "$RUNNER was not built"

# Each run stages its build contexts in a directory of its own (runs may overlap), removed at exit.
mkdir -p "$STAGE/logs"
contexts="$(mktemp -d "$STAGE/contexts.XXXXXX")"
trap 'rm -rf "$contexts"' EXIT
build_ca="$contexts/build-ca.pem"
: >"$build_ca"
if [ -n "${GAVEL_BUILD_CA+set}" ]; then
  if [ -n "$GAVEL_BUILD_CA" ]; then
    [ -r "$GAVEL_BUILD_CA" ] || die "GAVEL_BUILD_CA=$GAVEL_BUILD_CA is not a readable file"
    cat "$GAVEL_BUILD_CA" >"$build_ca"
  fi
else
  for crt in /usr/local/share/ca-certificates/*.crt /usr/local/share/ca-certificates/*/*.crt; do
    [ -f "$crt" ] && cat "$crt" >>"$build_ca"
  done
fi

# ---------------------------------------------------------------- build and verify
# The first non-empty line of stdout, else of stderr, trimmed: what `gavel languages` reports.
first_line() {
  sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' "$1" | grep -m1 -v '^$' || true
}

# build IMAGE CONTEXT LOG [BUILD-ARG...]: docker build, its output in LOG (or streamed with
# GAVEL_VERBOSE=1); on failure the log's end is shown.
build() {
  local image="$1" context="$2" log="$3"
  shift 3
  local cmd=(docker build "${no_cache[@]}" "${arch_args[@]}" --build-arg "BASE=$BASE" "$@" -t "$image" "$context")
  if [ "${GAVEL_VERBOSE:-0}" = 1 ]; then
    echo >&2
    "${cmd[@]}" 2>&1 | tee "$log" >&2
  elif ! "${cmd[@]}" >"$log" 2>&1; then
    echo "FAILED" >&2
    tail -n 30 "$log" | sed 's/^/    /' >&2
    echo "    (full log: $log)" >&2
    return 1
  fi
}

# The shared runner layer (user, gavel-runner, /tmp) every language image starts from.
runner_base="${PREFIX}base:${TAG}"
mkdir -p "$contexts/base"
cp -R "$REPO/runner-images/base/." "$contexts/base/"
cp "$RUNNER" "$contexts/base/gavel-runner"
printf 'building %-28s ' "$runner_base" >&2
build "$runner_base" "$contexts/base" "$STAGE/logs/base.log" || die "the runner layer $runner_base did not build"
echo "done" >&2

declare -A seconds=()
failed=()
for id in "${languages[@]}"; do
  image="${PREFIX}${id}:${TAG}"
  context="$contexts/$id"
  mkdir -p "$context"
  cp -R "$REPO/runner-images/$id/." "$context/"
  cp "$build_ca" "$context/build-ca.pem"

  printf 'building %-28s ' "$image" >&2
  started=$SECONDS
  build "$image" "$context" "$STAGE/logs/$id.log" --build-arg "RUNNER_BASE=$runner_base" ||
    { failed+=("$id (build)"); continue; }
  seconds[$id]=$((SECONDS - started))
  echo "${seconds[$id]} s" >&2

  # The labels the Docker launcher reads.
  language_label="$(docker image inspect -f "{{ index .Config.Labels \"$LABEL_LANGUAGE\" }}" "$image")"
  toolchain_label="$(docker image inspect -f "{{ index .Config.Labels \"$LABEL_TOOLCHAIN\" }}" "$image")"
  if [ "$language_label" != "$id" ]; then
    echo "  $image: label $LABEL_LANGUAGE is '$language_label', expected '$id'" >&2
    failed+=("$id (labels)")
    continue
  fi
  # The toolchain label must be what the catalogue's version command prints in the image.
  mapfile -t cmd < <(version_command "$id")
  out="$STAGE/logs/$id.version.out"
  err="$STAGE/logs/$id.version.err"
  run=(docker run --rm --network none --read-only --tmpfs /tmp)
  if ! "${run[@]}" --entrypoint "${cmd[0]}" "$image" "${cmd[@]:1}" >"$out" 2>"$err"; then
    echo "  $image: '${cmd[*]}' failed:" >&2
    sed 's/^/    /' "$err" >&2
    failed+=("$id (version command)")
    continue
  fi
  printed="$(first_line "$out")"
  [ -n "$printed" ] || printed="$(first_line "$err")"
  if [ -z "$toolchain_label" ] || [ "$printed" != "$toolchain_label" ]; then
    echo "  $image: label $LABEL_TOOLCHAIN does not match '${cmd[*]}':" >&2
    echo "    label:   '$toolchain_label'" >&2
    echo "    printed: '$printed'" >&2
    echo "    (fix the version ARGs in runner-images/$id/Dockerfile)" >&2
    failed+=("$id (toolchain label)")
    continue
  fi
  # The runner starts in the image (its libc, the read-only root, the non-root user).
  if ! "${run[@]}" "$image" probe >"$out" 2>"$err"; then
    echo "  $image: 'gavel-runner probe' failed:" >&2
    sed 's/^/    /' "$err" >&2
    failed+=("$id (runner)")
    continue
  fi
  # Where a kernel has no Landlock (Fargate's) the runner empties, after each test, what the
  # program's uid left in the directories every uid may write: the image may have no others.
  "${run[@]}" --entrypoint find "$image" / -xdev -type d -perm -0002 >"$out" 2>/dev/null || true
  grep -vxE "$SHARED_DIRS" "$out" >"$err" || true
  if [ -s "$err" ]; then
    echo "  $image: directories everyone may write beyond $SHARED_DIRS:" >&2
    sed 's/^/    /' "$err" >&2
    failed+=("$id (world-writable directories)")
    continue
  fi
done

echo >&2
printf '%-28s %10s %8s  %s\n' IMAGE SIZE BUILD TOOLCHAIN
for id in "${languages[@]}"; do
  image="${PREFIX}${id}:${TAG}"
  [ -n "${seconds[$id]:-}" ] || continue
  size="$(docker image inspect -f '{{ .Size }}' "$image" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
  toolchain="$(docker image inspect -f "{{ index .Config.Labels \"$LABEL_TOOLCHAIN\" }}" "$image")"
  printf '%-28s %10s %6s s  %s\n' "$image" "$size" "${seconds[$id]}" "$toolchain"
done
printf '%-28s %10s\n' "(base $BASE)" "$(docker image inspect -f '{{ .Size }}' "$BASE" | awk '{ printf "%.0f MB", $1 / 1e6 }')"
printf 'gavel-runner: %s bytes, %s gzipped\n' "$(stat -c %s "$RUNNER")" "$(gzip -9c "$RUNNER" | wc -c)"

if [ "${#failed[@]}" -gt 0 ]; then
  die "failed: ${failed[*]}"
fi
[ "$push" = 1 ] || exit 0

# ---------------------------------------------------------------- push to ECR
command -v aws >/dev/null || die "--push needs the AWS CLI (aws)"
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
[ -n "$region" ] || region="$(aws configure get region 2>/dev/null || true)"
[ -n "$region" ] || die "no AWS region: set AWS_REGION (or configure a default region)"
account="$(aws sts get-caller-identity --query Account --output text)" ||
  die "cannot read the AWS account (aws sts get-caller-identity failed: credentials?)"
[[ "$account" =~ ^[0-9]{12}$ ]] || die "unexpected AWS account id '$account'"

arch="$(docker image inspect -f '{{ .Architecture }}' "${PREFIX}${languages[0]}:${TAG}")"
case "$arch" in
  amd64) runner_architecture=X86_64 ;;
  arm64) runner_architecture=ARM64 ;;
  *) die "images are built for $arch, which Fargate does not run" ;;
esac

# The repository's URI (which names the registry), creating the repository if it is absent.
repository_uri() {
  local repo="$1" uri
  if uri="$(aws ecr describe-repositories --region "$region" --registry-id "$account" \
    --repository-names "$repo" --query 'repositories[0].repositoryUri' --output text 2>"$STAGE/logs/ecr.err")"; then
    echo "$uri"
  elif grep -q RepositoryNotFoundException "$STAGE/logs/ecr.err"; then
    echo "creating ECR repository $repo in $region" >&2
    aws ecr create-repository --region "$region" --repository-name "$repo" \
      --image-scanning-configuration scanOnPush=true \
      --query 'repository.repositoryUri' --output text
  else
    cat "$STAGE/logs/ecr.err" >&2
    return 1
  fi
}

declare -A logged_in=()
overrides=()
toolchains=()
for id in "${languages[@]}"; do
  image="${PREFIX}${id}:${TAG}"
  uri="$(repository_uri "${ECR_PREFIX}${id}")" || die "cannot find or create the ECR repository ${ECR_PREFIX}${id}"
  registry="${uri%%/*}"
  [[ "$registry" == "$account".* ]] || die "repository URI $uri is not in account $account"
  if [ -z "${logged_in[$registry]:-}" ]; then
    aws ecr get-login-password --region "$region" |
      docker login --username AWS --password-stdin "$registry" >/dev/null ||
      die "docker login to the ECR registry of $account in $region failed"
    logged_in[$registry]=1
  fi
  echo "pushing $image to $uri:$TAG" >&2
  docker tag "$image" "$uri:$TAG"
  docker push "$uri:$TAG" >"$STAGE/logs/$id.push.log" 2>&1 ||
    { tail -n 20 "$STAGE/logs/$id.push.log" >&2; die "push of $image failed"; }
  # Deploy by digest, so a task definition changes exactly when its image does.
  digest="$(docker image inspect -f '{{ range .RepoDigests }}{{ println . }}{{ end }}' "$uri:$TAG" |
    grep -m1 -F "$uri@" || true)"
  overrides+=("${id^}Image=${digest:-$uri:$TAG}")
  toolchains+=("$id" "$(docker image inspect -f "{{ index .Config.Labels \"$LABEL_TOOLCHAIN\" }}" "$image")")
done
overrides+=("RunnerArchitecture=$runner_architecture")

echo >&2
echo "sam deploy --parameter-overrides fragment:" >&2
printf '%s\n' "${overrides[*]}"
# The labels have spaces: one more override, to pass as one quoted word.
echo "and the toolchains' versions for the API (pass it quoted, as one word):" >&2
python3 -c 'import json, sys; a = sys.argv[1:]; print("Toolchains=" + json.dumps(dict(zip(a[::2], a[1::2]))))' \
  "${toolchains[@]}"
