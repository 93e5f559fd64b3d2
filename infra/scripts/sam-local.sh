#!/usr/bin/env bash
# `sam local` for real: the three functions of `sam build`, run by `sam local invoke` and
# `sam local start-api` in SAM's Lambda containers, against moto (an AWS emulator) in a container
# on a Docker network of their own, the whole pipeline of one job driven through them.
#
#   infra/scripts/sam-local.sh           # everything below, then tears it all down
#   infra/scripts/sam-local.sh images    # only build the emulator image and the Lambda base stand-in
#
# What it does:
#   1. the tools (.venv/sam, by check-template.sh), `sam build` if target/sam/build is missing or
#      stale, the runner binary (cargo build -p gavel-runner);
#   2. images, all from the offline Debian base (infra/scripts/offline-base.sh), none pulled:
#      gavel-moto (infra/local/moto.Dockerfile) and a stand-in for SAM's provided.al2023 x86_64
#      base image (infra/local/lambda-provided.Dockerfile), tagged with the name the installed
#      samcli package gives it, used with --skip-pull-image (a real image of that name is kept);
#   3. a Docker network, moto on it under the alias `aws` (the functions' AWS_ENDPOINT_URL
#      http://aws:4566 of infra/local/env.json) and on a free port of 127.0.0.1 for this host,
#      infra/local/bootstrap.py (bucket, queues, table, cluster, task definitions, tasks' network);
#   4. `sam local invoke --config-env localstack` of each function with each fixture of
#      infra/events as shipped (answers for jobs that do not exist), then one job through the
#      whole pipeline with events made from those fixtures with its real ids (target/sam-local/
#      events): API POST -> 202; its SQS message -> dispatch -> no batch item failure, RunTask
#      recorded; GET -> running; the runner with the task's environment (playing Fargate) -> report
#      in S3; report-written event -> complete; GET -> completed, accepted 2/2; task-stopped event
#      -> complete leaves it completed;
#   5. two jobs given up on, through complete's SQS events: one whose message is received
#      MaxReceiveCount times and never settled (SQS moves it to the dead-letter queue) and one
#      whose report-written event failed every try (Lambda's on-failure record): GET -> failed,
#      each with its reason;
#   6. `sam local start-api` on a free port: POST /execute -> 202; GET /result/{id} -> pending;
#      dispatch; its task stops without a report -> complete; GET -> failed, with the stop reason;
#      GET of the first job -> completed;
#   7. on exit, also on failure or Ctrl-C: stops start-api, removes the containers on the network,
#      the network. Logs and generated events stay in target/sam-local/.
#
# Needs Docker (a running engine), python3 with venv, the Rust toolchain, and debootstrap when the
# offline base image is not there yet. No AWS account, no credentials, no registry.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/../.." && pwd)"
CHECK="$REPO/infra/scripts/check-template.sh"
VENV="$REPO/.venv/sam" # made by check-template.sh
STATE="$REPO/target/sam-local"
EVENTS="$STATE/events"
LOGS="$STATE/logs"
BASE_IMAGE="${GAVEL_BASE_IMAGE:-debian:bookworm-slim}"
MOTO_IMAGE=gavel-moto:5.2.5
STAND_IN_LABEL=org.gavel.stand-in
RUN="gavel-sam-local-$$"
NETWORK="$RUN"
EMULATOR="$RUN-aws"
NETWORK_ENDPOINT=http://aws:4566 # as infra/local/env.json names it

# The emulator takes any credentials; these keep real ones out of every call. SAM asks STS for the
# account before each invoke: the emulator answers (offline, the real endpoint would time out).
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE AWS_ENDPOINT_URL
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true SAM_CLI_TELEMETRY=0
export PATH="$VENV/bin:$PATH"

started=$SECONDS
api_pid=""
endpoint=""

step() { printf 'sam-local [%3ss]: %s\n' "$((SECONDS - started))" "$*"; }
die() {
  echo "sam-local: FAIL: $*" >&2
  exit 1
}
usage() {
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

# ------------------------------------------------------------------------------------ teardown
teardown() {
  local status=$? container
  trap - EXIT INT TERM
  set +e
  if [ -n "$api_pid" ] && kill -0 "$api_pid" 2>/dev/null; then
    # start-api runs in a session of its own (setsid): stop the whole group; SAM then removes
    # its warm containers itself.
    kill -TERM -- "-$api_pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$api_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$api_pid" 2>/dev/null
  fi
  if docker network inspect "$NETWORK" >/dev/null 2>&1; then
    if [ "$status" -ne 0 ] && docker container inspect "$EMULATOR" >/dev/null 2>&1; then
      docker logs "$EMULATOR" >"$LOGS/emulator.log" 2>&1
    fi
    # What is on this run's network is this run's: the emulator and any Lambda container SAM left.
    for container in $(docker network inspect -f '{{range $id, $c := .Containers}}{{$id}} {{end}}' "$NETWORK"); do
      docker rm -f "$container" >/dev/null 2>&1
    done
    docker rm -f "$EMULATOR" >/dev/null 2>&1
    docker network rm "$NETWORK" >/dev/null 2>&1 || echo "sam-local: could not remove the network $NETWORK" >&2
  fi
  if [ "$status" -ne 0 ]; then
    echo "sam-local: failed after $((SECONDS - started)) s; logs in ${LOGS#"$REPO"/}/" >&2
  fi
  exit "$status"
}

# --------------------------------------------------------------------------------------- setup
preflight() {
  command -v docker >/dev/null || die "docker is not installed"
  docker info >/dev/null 2>&1 || die "the Docker engine does not answer (start it, e.g. dockerd)"
  command -v curl >/dev/null || die "curl is not installed"
  rm -rf "$EVENTS" "$LOGS"
  mkdir -p "$EVENTS" "$LOGS"
}

tools_and_build() {
  "$CHECK" tools
  "$CHECK" fresh
  step "cargo build -p gavel-runner (the runner that plays the Fargate task)"
  (cd "$REPO" && cargo build --quiet -p gavel-runner --bin gavel-runner) || die "cargo build -p gavel-runner failed"
  RUNNER="$REPO/target/debug/gavel-runner"
}

# The name SAM gives the base image of provided.al2023 on x86_64, from the installed samcli.
lambda_base_image() {
  "$VENV/bin/python" -c '
from samcli.local.docker.lambda_image import LambdaImage, Runtime
print(LambdaImage._INVOKE_REPO_PREFIX + "/" + Runtime.get_image_name_tag("provided.al2023", "x86_64"))'
}

# PEM text of the CA certificates this host adds to the system's, for builds behind a
# TLS-intercepting proxy (empty elsewhere).
extra_ca_certs() {
  find /usr/local/share/ca-certificates -type f -name '*.crt' -exec cat {} + 2>/dev/null || true
}

build_images() {
  GAVEL_BASE_IMAGE="$BASE_IMAGE" "$REPO/infra/scripts/offline-base.sh" | sed 's/^/sam-local: /'

  step "docker build $MOTO_IMAGE (infra/local/moto.Dockerfile, from $BASE_IMAGE)"
  docker build -f "$REPO/infra/local/moto.Dockerfile" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    --build-arg "EXTRA_CA_CERTS=$(extra_ca_certs)" -t "$MOTO_IMAGE" "$REPO/infra/local" \
    >"$LOGS/moto-image.log" 2>&1 || { tail -n 30 "$LOGS/moto-image.log" >&2; die "building $MOTO_IMAGE failed"; }

  LAMBDA_BASE="$(lambda_base_image)" || die "could not read SAM's provided.al2023 image name from samcli"
  local before="" after
  if docker image inspect "$LAMBDA_BASE" >/dev/null 2>&1; then
    before="$(docker image inspect -f '{{.Id}}' "$LAMBDA_BASE")"
    if [ -z "$(docker image inspect -f "{{index .Config.Labels \"$STAND_IN_LABEL\"}}" "$LAMBDA_BASE")" ]; then
      step "SAM's provided.al2023 base image is here (not a stand-in): using it"
      return
    fi
  fi
  step "docker build the provided.al2023 stand-in (infra/local/lambda-provided.Dockerfile, from $BASE_IMAGE)"
  docker build -f "$REPO/infra/local/lambda-provided.Dockerfile" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    -t "$LAMBDA_BASE" "$REPO/infra/local" >"$LOGS/lambda-base-image.log" 2>&1 ||
    { tail -n 30 "$LOGS/lambda-base-image.log" >&2; die "building the provided.al2023 stand-in failed"; }
  after="$(docker image inspect -f '{{.Id}}' "$LAMBDA_BASE")"
  if [ -n "$before" ] && [ "$before" != "$after" ]; then
    # SAM layers its emulator on the base once (<repository>:…rapid…) and reuses that image while
    # it exists: drop it so that the next invoke builds it on the new stand-in.
    local repository="${LAMBDA_BASE%:*}" image
    for image in $(docker images --format '{{.Repository}}:{{.Tag}}' "$repository" | grep ':.*rapid' || true); do
      docker rmi "$image" >/dev/null
    done
  fi
}

start_emulator() {
  step "docker network $NETWORK; $MOTO_IMAGE on it as \"aws\""
  docker network create "$NETWORK" >/dev/null
  docker run -d --name "$EMULATOR" --network "$NETWORK" --network-alias aws \
    -p 127.0.0.1::4566 "$MOTO_IMAGE" >/dev/null
  local published
  published="$(docker port "$EMULATOR" 4566/tcp | head -n1)"
  [ -n "$published" ] || die "the emulator's port 4566 is not published"
  endpoint="http://$published"
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "$endpoint/moto-api/" 2>/dev/null; do
    [ "$(docker inspect -f '{{.State.Running}}' "$EMULATOR")" = true ] ||
      { docker logs "$EMULATOR" 2>&1 | tail -n 30 >&2; die "the emulator exited"; }
    [ "$SECONDS" -lt "$deadline" ] || die "the emulator did not answer at $endpoint within 60 s"
    sleep 0.2
  done
  step "emulator: $NETWORK_ENDPOINT in the network, $endpoint from this host"
  export AWS_ENDPOINT_URL_STS="$endpoint"

  "$VENV/bin/python" "$REPO/infra/local/bootstrap.py" --endpoint-url "$endpoint" \
    --env-vars-out "$STATE/env.json" >"$LOGS/bootstrap.log" 2>&1 ||
    { cat "$LOGS/bootstrap.log" >&2; die "infra/local/bootstrap.py failed"; }
  sed -n 's/^\(ecs cluster\|network\|queue\|table\|bucket\)/  \1/p' "$LOGS/bootstrap.log"
}

# ----------------------------------------------------------------------------------- the checks
pipeline() { "$VENV/bin/python" "$REPO/infra/local/pipeline.py" --endpoint-url "$endpoint" \
  --network-endpoint "$NETWORK_ENDPOINT" "$@"; }

# The `sam local` options every call shares: the localstack profile of samconfig.toml (built
# template, parameters, AwsEndpointUrl=http://aws:4566), this run's network and env vars.
sam_local_options=()

# invoke NAME FUNCTION EVENT: the function's answer in $LOGS/NAME.json, its log in $LOGS/NAME.log.
invoke() {
  local name=$1 function=$2 event=$3
  step "sam local invoke $function -e ${event#"$REPO"/}"
  if ! (cd "$REPO" && sam local invoke "$function" "${sam_local_options[@]}" -e "$event") \
    >"$LOGS/$name.json" 2>"$LOGS/$name.log"; then
    tail -n 40 "$LOGS/$name.log" >&2
    die "sam local invoke $function failed (${LOGS#"$REPO"/}/$name.log)"
  fi
  # A function's error (a panic, a failed cold start) is an answer too, with errorType.
  if grep -q '"errorType"' "$LOGS/$name.json"; then
    tail -n 40 "$LOGS/$name.log" >&2
    die "$function answered an error: $(cat "$LOGS/$name.json")"
  fi
}

# The complete function answers how many jobs the event named (each judged, failed or left as it was).
expect_handled() {
  local answer
  answer="$(tr -d '[:space:]' <"$LOGS/$1.json")"
  [ "$answer" = "$2" ] || die "$1: complete answered ${answer:-nothing}, expected $2"
  echo "  handled $answer job"
}

job_of() { "$VENV/bin/python" -c 'import json, sys; print(json.loads(json.load(sys.stdin)["body"])["job_id"])' <"$1"; }

fixtures_as_shipped() {
  step "-- the fixtures of infra/events as shipped"
  invoke post-fixture ApiFunction "$REPO/infra/events/api-post-execute.json"
  pipeline check-api "$LOGS/post-fixture.json" 202 status=pending job_id='*'
  job_a="$(job_of "$LOGS/post-fixture.json")"

  # Its job 0b6f3a52-… does not exist here.
  invoke get-fixture ApiFunction "$REPO/infra/events/api-get-result.json"
  pipeline check-api "$LOGS/get-fixture.json" 404 error.code=job_not_found

  # Neither job exists: both messages are dropped (not retried), nothing is started.
  invoke dispatch-fixture DispatchFunction "$REPO/infra/events/sqs-dispatch.json"
  pipeline check-json "$LOGS/dispatch-fixture.json" batchItemFailures='[]'

  # One record each, for a job that does not exist: handled, nothing written.
  invoke complete-s3-fixture CompleteFunction "$REPO/infra/events/s3-report-written.json"
  expect_handled complete-s3-fixture 1
  invoke complete-ecs-fixture CompleteFunction "$REPO/infra/events/ecs-task-stopped.json"
  expect_handled complete-ecs-fixture 1

  # A dead letter and a failed invocation of a job that does not exist: settled, nothing written.
  invoke complete-dlq-fixture CompleteFunction "$REPO/infra/events/sqs-dead-letter.json"
  pipeline check-json "$LOGS/complete-dlq-fixture.json" batchItemFailures='[]'
  invoke complete-failure-fixture CompleteFunction "$REPO/infra/events/sqs-complete-failure.json"
  pipeline check-json "$LOGS/complete-failure-fixture.json" batchItemFailures='[]'
}

one_job_through_the_pipeline() {
  step "-- job $job_a (posted above) through the pipeline, events from the fixtures with its ids"
  pipeline sqs-event --out "$EVENTS/sqs-dispatch-a.json" --expect 1 >"$LOGS/sqs-a.txt"
  grep -qx "$job_a" "$LOGS/sqs-a.txt" || die "the queue held $(cat "$LOGS/sqs-a.txt"), not job $job_a"
  invoke dispatch-a DispatchFunction "$EVENTS/sqs-dispatch-a.json"
  pipeline check-json "$LOGS/dispatch-a.json" batchItemFailures='[]'

  pipeline api-event GET "/result/$job_a" --out "$EVENTS/api-get-result-a.json"
  invoke get-a-running ApiFunction "$EVENTS/api-get-result-a.json"
  pipeline check-api "$LOGS/get-a-running.json" 200 status=running language=python

  step "the runner with the environment RunTask recorded (playing Fargate)"
  pipeline run-task "$job_a" --runner "$RUNNER" >"$LOGS/runner-a.log" 2>&1 ||
    { cat "$LOGS/runner-a.log" >&2; die "the runner task of $job_a failed"; }
  sed 's/^/  /' "$LOGS/runner-a.log"

  pipeline s3-event "$job_a" --out "$EVENTS/s3-report-written-a.json"
  invoke complete-a CompleteFunction "$EVENTS/s3-report-written-a.json"
  expect_handled complete-a 1

  invoke get-a-completed ApiFunction "$EVENTS/api-get-result-a.json"
  pipeline check-api "$LOGS/get-a-completed.json" 200 status=completed verdict=accepted \
    summary.passed=2 summary.total=2 tests.0.stdout='"3\n"' tests.1.hidden=true \
    '!tests.1.input' '!tests.1.expected_output'

  # The task's stop arrives after the report: the job stays as judged.
  pipeline task-stopped "$job_a" --exit-code 0 --out "$EVENTS/ecs-task-stopped-a.json"
  invoke complete-a-stopped CompleteFunction "$EVENTS/ecs-task-stopped-a.json"
  expect_handled complete-a-stopped 1
}

# expect_failed NAME JOB_ID WORDS: GET /result/JOB_ID through the API function -> failed with WORDS.
expect_failed() {
  local name=$1 job=$2 words=$3
  pipeline api-event GET "/result/$job" --out "$EVENTS/api-get-result-$name.json"
  invoke "get-$name" ApiFunction "$EVENTS/api-get-result-$name.json"
  pipeline check-api "$LOGS/get-$name.json" 200 status=failed error='*'
  grep -q "$words" "$LOGS/get-$name.json" || die "job $job failed without \"$words\": $(cat "$LOGS/get-$name.json")"
}

jobs_given_up() {
  local job_c job_d
  step "-- jobs given up on, failed by complete from its SQS queues"
  invoke post-c ApiFunction "$REPO/infra/events/api-post-execute.json"
  pipeline check-api "$LOGS/post-c.json" 202 status=pending
  job_c="$(job_of "$LOGS/post-c.json")"
  step "job $job_c: its message received 3 times and never settled (dispatch crashed), then dead-lettered"
  pipeline dead-letter "$job_c" --out "$EVENTS/sqs-dead-letter-c.json"
  invoke complete-c CompleteFunction "$EVENTS/sqs-dead-letter-c.json"
  pipeline check-json "$LOGS/complete-c.json" batchItemFailures='[]'
  expect_failed c "$job_c" 'gave up dispatching after 3 receives'

  invoke post-d ApiFunction "$REPO/infra/events/api-post-execute.json"
  pipeline check-api "$LOGS/post-d.json" 202 status=pending
  job_d="$(job_of "$LOGS/post-d.json")"
  pipeline sqs-event --out "$EVENTS/sqs-dispatch-d.json" --expect 1 >"$LOGS/sqs-d.txt"
  grep -qx "$job_d" "$LOGS/sqs-d.txt" || die "the queue held $(cat "$LOGS/sqs-d.txt"), not job $job_d"
  invoke dispatch-d DispatchFunction "$EVENTS/sqs-dispatch-d.json"
  pipeline check-json "$LOGS/dispatch-d.json" batchItemFailures='[]'
  step "job $job_d: its report-written event failed every invocation of complete (Lambda's on-failure record)"
  pipeline complete-failure "$job_d" --out "$EVENTS/sqs-complete-failure-d.json"
  invoke complete-d CompleteFunction "$EVENTS/sqs-complete-failure-d.json"
  pipeline check-json "$LOGS/complete-d.json" batchItemFailures='[]'
  expect_failed d "$job_d" 'completing the job failed repeatedly'
}

free_port() {
  "$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# http NAME METHOD URL [BODY]: the body in $LOGS/NAME.json; prints the status.
http() {
  local name=$1 method=$2 url=$3 data=()
  [ $# -lt 4 ] || data=(--data-binary "$4")
  curl -sS -X "$method" -o "$LOGS/$name.json" -w '%{http_code}' --max-time 60 \
    -H 'content-type: application/json' "${data[@]}" "$url"
}

expect_http() {
  local name=$1 want=$2 got=$3
  shift 3
  [ "$got" = "$want" ] || die "$name: HTTP $got, expected $want: $(head -c 2000 "$LOGS/$name.json")"
  echo "  HTTP $got"
  pipeline check-json "$LOGS/$name.json" "$@"
}

through_start_api() {
  local port base status job_b
  port="$(free_port)"
  base="http://127.0.0.1:$port"
  step "-- sam local start-api on $base"
  (cd "$REPO" && exec setsid sam local start-api "${sam_local_options[@]}" --host 127.0.0.1 --port "$port") \
    >"$LOGS/start-api.log" 2>&1 &
  api_pid=$!
  local deadline=$((SECONDS + 120))
  until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 "$base/health" 2>/dev/null)" = 200 ]; do
    kill -0 "$api_pid" 2>/dev/null || { tail -n 30 "$LOGS/start-api.log" >&2; die "sam local start-api exited"; }
    [ "$SECONDS" -lt "$deadline" ] || { tail -n 30 "$LOGS/start-api.log" >&2; die "start-api did not answer within 120 s"; }
    sleep 0.5
  done
  step "GET /health answers"

  step "POST /execute"
  status="$(http post-b POST "$base/execute" \
    '{"language": "python", "code": "import sys\nprint(sum(map(int, sys.stdin.read().split())))", "tests": [{"input": "2 3\n", "expected_output": "5\n"}]}')"
  expect_http post-b 202 "$status" status=pending job_id='*' result_url='*'
  job_b="$("$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["job_id"])' <"$LOGS/post-b.json")"

  step "GET /result/$job_b"
  status="$(http get-b-pending GET "$base/result/$job_b")"
  expect_http get-b-pending 200 "$status" status=pending job_id="$job_b"

  pipeline sqs-event --out "$EVENTS/sqs-dispatch-b.json" --expect 1 >"$LOGS/sqs-b.txt"
  grep -qx "$job_b" "$LOGS/sqs-b.txt" || die "the queue held $(cat "$LOGS/sqs-b.txt"), not job $job_b"
  invoke dispatch-b DispatchFunction "$EVENTS/sqs-dispatch-b.json"
  pipeline check-json "$LOGS/dispatch-b.json" batchItemFailures='[]'

  step "GET /result/$job_b"
  status="$(http get-b-running GET "$base/result/$job_b")"
  expect_http get-b-running 200 "$status" status=running

  # This time the task stops (killed, exit 137) before the runner wrote any report.
  pipeline task-stopped "$job_b" --exit-code 137 --out "$EVENTS/ecs-task-stopped-b.json"
  invoke complete-b CompleteFunction "$EVENTS/ecs-task-stopped-b.json"
  expect_handled complete-b 1

  step "GET /result/$job_b"
  status="$(http get-b-failed GET "$base/result/$job_b")"
  expect_http get-b-failed 200 "$status" status=failed error='*'
  grep -q 'stopped without a report' "$LOGS/get-b-failed.json" || die "the failure does not give the stop reason: $(cat "$LOGS/get-b-failed.json")"

  step "GET /result/$job_a"
  status="$(http get-a-api GET "$base/result/$job_a")"
  expect_http get-a-api 200 "$status" status=completed verdict=accepted summary.passed=2

  step "stopping start-api"
  kill -TERM -- "-$api_pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$api_pid" 2>/dev/null || break; sleep 0.1; done
  api_pid=""
}

# ---------------------------------------------------------------------------------------- main
case "${1:-}" in
  "") ;;
  images)
    preflight
    "$CHECK" tools
    build_images
    step "images: OK ($MOTO_IMAGE; $(docker image inspect -f '{{.Id}}' "$LAMBDA_BASE" | cut -c8-19) for provided.al2023)"
    exit 0
    ;;
  *) usage ;;
esac

trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
preflight
tools_and_build
build_images
start_emulator
sam_local_options=(--config-env localstack --skip-pull-image --docker-network "$NETWORK" --env-vars "$STATE/env.json")
job_a=""
fixtures_as_shipped
one_job_through_the_pipeline
jobs_given_up
through_start_api
step "OK: every function invoked with its fixtures; job $job_a completed through the pipeline; jobs given up on failed; POST /execute -> result through start-api"
