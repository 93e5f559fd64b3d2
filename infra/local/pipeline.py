#!/usr/bin/env python3
"""The host's side of infra/scripts/sam-local.sh: events with real ids, the runner task, checks.

Each event is a fixture of infra/events with the ids of state that exists in the emulator, so that
`sam local invoke` of a function does real work; the checks read what the function answered.

    pipeline.py sqs-event --out FILE [--expect N]     the jobs queue's messages as dispatch's SQS
                                                      event (the messages are taken off the queue)
    pipeline.py dead-letter JOB_ID --out FILE         the job's message received --max-receives
                                                      times and never settled (dispatch crashed):
                                                      SQS moves it to the dead-letter queue; as
                                                      complete's SQS event of that queue
    pipeline.py complete-failure JOB_ID --out FILE    what Lambda writes to complete's on-failure
                                                      queue when the job's report-written event
                                                      failed every try; as complete's SQS event
    pipeline.py run-task JOB_ID --runner BIN          plays Fargate: the runner with the environment
                                                      RunTask recorded for the job
    pipeline.py s3-event JOB_ID --out FILE            the report-written event of the job's report
    pipeline.py task-stopped JOB_ID --out FILE        the task-stopped event of the job's task
    pipeline.py api-event METHOD PATH --out FILE [--body JSON]
    pipeline.py check-api FILE STATUS [KEY=VALUE...]  a proxy response (sam local invoke's stdout)
    pipeline.py check-json FILE|- [KEY=VALUE...]      a JSON document (a body, or any answer)

KEY is a dotted path into the JSON (`tests.0.verdict`, `summary.passed`); VALUE is compared as
JSON when it parses as JSON, else as a string; `KEY=*` only asks that KEY be there, `!KEY` that it
be absent. The values
each check found are printed. The emulator is reached from this host at --endpoint-url (default
$AWS_ENDPOINT_URL); its address inside the Docker network (--network-endpoint, default
http://aws:4566) is what the functions' presigned URLs name.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pathlib
import subprocess
import sys
import urllib.parse
from datetime import datetime, timezone

from bootstrap import client  # the same emulator client (this script's directory is on sys.path)

EVENTS = pathlib.Path(__file__).resolve().parent.parent / "events"
# gavel_core::language::TOOLCHAIN_PATH: where the runner's sandbox finds the toolchains.
TOOLCHAIN_PATH = "/usr/local/bin:/usr/bin:/bin"


def fixture(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def write(path: str, document: dict) -> None:
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(path).write_text(json.dumps(document, indent=2) + "\n")


def die(message: str) -> None:
    print(f"pipeline: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ------------------------------------------------------------------------------------------ events
def receive(sqs, queue: str, count: int, visibility: int | None = None) -> tuple[str, list[dict]]:
    """The queue's URL and up to `count` of its messages, with the attributes Lambda passes on."""
    queue_url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    messages: list[dict] = []
    while len(messages) < count:
        answer = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(10, count - len(messages)),
            WaitTimeSeconds=5,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            **({} if visibility is None else {"VisibilityTimeout": visibility}),
        )
        batch = answer.get("Messages", [])
        if not batch:
            break
        messages.extend(batch)
    return queue_url, messages


def write_sqs_event(args: argparse.Namespace, sqs, queue_url: str, messages: list[dict], template: str) -> None:
    """What Lambda's SQS event source would deliver of `messages`, in the shape of the fixture
    `template`; the messages are taken off the queue, as the event source mapping deletes what the
    function does not report as failed (the caller checks that it reports no failure)."""
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    shape = fixture(template)["Records"][0]
    records = []
    for message in messages:
        record = copy.deepcopy(shape)
        record.update(
            messageId=message["MessageId"],
            receiptHandle=message["ReceiptHandle"],
            body=message["Body"],
            md5OfBody=message["MD5OfBody"],
            eventSourceARN=queue_arn,
            awsRegion=args.region,
            attributes={**record["attributes"], **message.get("Attributes", {})},
        )
        records.append(record)
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    write(args.out, {"Records": records})


def sqs_event(args: argparse.Namespace) -> None:
    """Dispatch's event: up to 10 messages of the jobs queue."""
    sqs = client("sqs", args)
    queue_url, messages = receive(sqs, args.queue, args.expect)
    if len(messages) != args.expect:
        die(f"{args.queue}: {len(messages)} message(s) waiting, expected {args.expect}")
    write_sqs_event(args, sqs, queue_url, messages, "sqs-dispatch.json")
    for message in messages:
        print(json.loads(message["Body"])["job_id"])


def one_message(sqs, queue: str, job_id: str) -> tuple[str, dict]:
    queue_url, messages = receive(sqs, queue, 1)
    if len(messages) != 1 or job_id not in messages[0]["Body"]:
        die(f"{queue}: expected one message of job {job_id}, found {[m['Body'] for m in messages]}")
    return queue_url, messages[0]


def dead_letter(args: argparse.Namespace) -> None:
    """Complete's event of the dead-letter queue: the job's message after --max-receives receives
    that never settled it (as when dispatch crashes or times out each time)."""
    sqs = client("sqs", args)
    for receive_count in range(1, args.max_receives + 1):
        _, messages = receive(sqs, args.queue, 1, visibility=0)
        if len(messages) != 1 or args.job_id not in messages[0]["Body"]:
            die(f"receive {receive_count} of {args.queue}: expected job {args.job_id}'s message, found {messages}")
    # The next receive finds the receive count at the maximum: SQS moves the message on.
    _, left = receive(sqs, args.queue, 1, visibility=0)
    if left:
        die(f"{args.queue} still delivers the message after {args.max_receives} receives: {left}")
    queue_url, message = one_message(sqs, args.dlq, args.job_id)
    write_sqs_event(args, sqs, queue_url, [message], "sqs-dead-letter.json")


def report_written_event(args: argparse.Namespace, job_id: str) -> dict:
    """The S3 event of the job's report (its size and ETag left as the fixture's)."""
    event = fixture("s3-report-written.json")
    record = event["Records"][0]
    record["awsRegion"] = args.region
    record["eventTime"] = now_iso()
    record["s3"]["bucket"].update(name=args.bucket, arn=f"arn:aws:s3:::{args.bucket}")
    record["s3"]["object"]["key"] = f"jobs/{job_id}/report.json"
    return event


def complete_failure(args: argparse.Namespace) -> None:
    """Complete's event of its on-failure queue: Lambda's record of the job's report-written event
    that failed every invocation (the fixture's record, killed as when out of memory), sent
    through the queue."""
    sqs = client("sqs", args)
    record = json.loads(fixture("sqs-complete-failure.json")["Records"][0]["body"])
    record["requestPayload"] = report_written_event(args, args.job_id)
    record["timestamp"] = now_iso()
    queue_url = sqs.get_queue_url(QueueName=args.failures_queue)["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))
    queue_url, message = one_message(sqs, args.failures_queue, args.job_id)
    write_sqs_event(args, sqs, queue_url, [message], "sqs-complete-failure.json")


def the_task(args: argparse.Namespace, job_id: str) -> dict:
    ecs = client("ecs", args)
    arns = ecs.list_tasks(cluster=args.cluster, startedBy=job_id)["taskArns"]
    if len(arns) != 1:
        die(f"expected one runner task started by {job_id}, found {len(arns)}")
    return ecs.describe_tasks(cluster=args.cluster, tasks=arns)["tasks"][0]


def task_environment(args: argparse.Namespace, task: dict) -> dict[str, str]:
    """The container's environment as ECS gives it: its task definition's, then the overrides."""
    definition = client("ecs", args).describe_task_definition(taskDefinition=task["taskDefinitionArn"])
    [defined] = definition["taskDefinition"]["containerDefinitions"]
    [container] = task["overrides"]["containerOverrides"]
    pairs = defined.get("environment", []) + container.get("environment", [])
    return {pair["name"]: pair["value"] for pair in pairs}


def run_task(args: argparse.Namespace) -> None:
    """Plays Fargate, as tests/it/cloud.rs does: the runner binary with the task's environment and
    nothing else. The presigned URLs name the emulator as the functions reach it inside the Docker
    network; from this host it is at --endpoint-url (moto does not check a URL's signature)."""
    task = the_task(args, args.job_id)
    env = task_environment(args, task)
    if env.get("GAVEL_ISOLATION") != "container":
        die(f"the task definition does not set GAVEL_ISOLATION=container: {env}")
    inside = urllib.parse.urlsplit(args.network_endpoint)
    outside = urllib.parse.urlsplit(args.endpoint_url)
    # The answers' URL comes only with a job that has a custom checker.
    names = ["GAVEL_BUNDLE_URL", "GAVEL_REPORT_URL"] + (["GAVEL_JUDGE_DATA_URL"] if "GAVEL_JUDGE_DATA_URL" in env else [])
    for name in names:
        url = urllib.parse.urlsplit(env.get(name, ""))
        if url.netloc != inside.netloc:
            die(f"{name} of the task does not point at the emulator {inside.netloc}: {env.get(name)!r}")
        env[name] = urllib.parse.urlunsplit(url._replace(scheme=outside.scheme, netloc=outside.netloc))
    print(f"runner task {task['taskArn'].rsplit('/', 1)[-1]} ({task['taskDefinitionArn'].rsplit('/', 1)[-1]})")
    status = subprocess.run([args.runner], env={"PATH": TOOLCHAIN_PATH, **env}, check=False).returncode
    if status != 0:
        die(f"the runner exited with {status}")


def s3_event(args: argparse.Namespace) -> None:
    s3 = client("s3", args)
    event = report_written_event(args, args.job_id)
    record = event["Records"][0]
    head = s3.head_object(Bucket=args.bucket, Key=record["s3"]["object"]["key"])
    record["s3"]["object"].update(size=head["ContentLength"], eTag=head["ETag"].strip('"'))
    write(args.out, event)


def task_stopped(args: argparse.Namespace) -> None:
    """EventBridge's "ECS Task State Change" for the job's task, stopped as its container exited
    with --exit-code (moto records the task, but never runs or stops it)."""
    task = the_task(args, args.job_id)
    event = fixture("ecs-task-stopped.json")
    detail = event["detail"]
    detail.update(
        clusterArn=task["clusterArn"],
        taskArn=task["taskArn"],
        taskDefinitionArn=task["taskDefinitionArn"],
        startedBy=task.get("startedBy", args.job_id),
        overrides=task["overrides"],
        lastStatus="STOPPED",
        desiredStatus="STOPPED",
        stoppedAt=now_iso(),
        updatedAt=now_iso(),
    )
    for container in detail["containers"]:
        container.update(taskArn=task["taskArn"], exitCode=args.exit_code, lastStatus="STOPPED")
    event.update(region=args.region, time=now_iso()[:19] + "Z", resources=[task["taskArn"]])
    write(args.out, event)


def api_event(args: argparse.Namespace) -> None:
    """An API Gateway REST proxy event (stage v1), from the fixture of that method."""
    event = fixture("api-post-execute.json" if args.method == "POST" else "api-get-result.json")
    path, _, query = args.path.partition("?")
    params = dict(urllib.parse.parse_qsl(query))
    event["httpMethod"] = args.method
    event["path"] = path
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    event["requestContext"].update(httpMethod=args.method, path=f"/v1{path}")
    event["queryStringParameters"] = params or None
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in params.items()} or None
    if args.body is not None:
        event["body"] = args.body
    elif args.method != "POST":
        event["body"] = None
    write(args.out, event)


# ------------------------------------------------------------------------------------------ checks
def lookup(document, dotted: str):
    value = document
    for part in dotted.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(dotted)
    return value


def expect(document, pairs: list[str], what: str) -> None:
    found = []
    for pair in pairs:
        if pair.startswith("!"):
            try:
                value = lookup(document, pair[1:])
            except KeyError:
                found.append(f"no {pair[1:]}")
                continue
            die(f"{what}: {pair[1:]} should not be there, but is {json.dumps(value)}")
        key, _, wanted = pair.partition("=")
        try:
            value = lookup(document, key)
        except KeyError:
            die(f"{what}: no {key} in {json.dumps(document)[:2000]}")
        if wanted != "*":
            try:
                wanted_value = json.loads(wanted)
            except ValueError:
                wanted_value = wanted
            if value != wanted_value:
                die(f"{what}: {key} is {json.dumps(value)}, expected {json.dumps(wanted_value)}"
                    f" in {json.dumps(document)[:2000]}")
        plain = isinstance(value, str) and value.isprintable()
        found.append(f"{key}={value if plain else json.dumps(value)}")
    if found:
        print("  " + "  ".join(found))


def read_json(path: str, what: str):
    text = sys.stdin.read() if path == "-" else pathlib.Path(path).read_text()
    # sam local invoke prints the function's answer as the last line of its standard output.
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        die(f"{what}: no answer")
    try:
        return json.loads(lines[-1])
    except ValueError:
        try:
            return json.loads(text)
        except ValueError:
            die(f"{what}: not JSON: {text[:2000]}")


def check_api(args: argparse.Namespace) -> None:
    response = read_json(args.file, "the API function's answer")
    status = response.get("statusCode")
    body = response.get("body") or ""
    if status != args.status:
        die(f"the API answered {status}, expected {args.status}: {body[:2000]}")
    try:
        document = json.loads(body)
    except ValueError:
        die(f"the API answered {status} with a body that is not JSON: {body[:2000]}")
    print(f"  HTTP {status}")
    expect(document, args.pairs, f"the API's {status} body")
    if args.save_body:
        pathlib.Path(args.save_body).write_text(body)


def check_json(args: argparse.Namespace) -> None:
    expect(read_json(args.file, args.file), args.pairs, args.file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"))
    parser.add_argument("--network-endpoint", default="http://aws:4566")
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    parser.add_argument("--queue", default="gavel-jobs")
    parser.add_argument("--dlq", default="gavel-jobs-dlq")
    parser.add_argument("--failures-queue", default="gavel-complete-failures")
    parser.add_argument("--bucket", default="gavel-jobs-local")
    parser.add_argument("--cluster", default="gavel-local")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sqs-event")
    p.add_argument("--out", required=True)
    p.add_argument("--expect", type=int, default=1)
    p.set_defaults(run=sqs_event)

    p = sub.add_parser("dead-letter")
    p.add_argument("job_id")
    p.add_argument("--out", required=True)
    p.add_argument("--max-receives", type=int, default=3, help="the jobs queue's maxReceiveCount (bootstrap.py's)")
    p.set_defaults(run=dead_letter)

    p = sub.add_parser("complete-failure")
    p.add_argument("job_id")
    p.add_argument("--out", required=True)
    p.set_defaults(run=complete_failure)

    p = sub.add_parser("run-task")
    p.add_argument("job_id")
    p.add_argument("--runner", required=True)
    p.set_defaults(run=run_task)

    p = sub.add_parser("s3-event")
    p.add_argument("job_id")
    p.add_argument("--out", required=True)
    p.set_defaults(run=s3_event)

    p = sub.add_parser("task-stopped")
    p.add_argument("job_id")
    p.add_argument("--out", required=True)
    p.add_argument("--exit-code", type=int, default=0)
    p.set_defaults(run=task_stopped)

    p = sub.add_parser("api-event")
    p.add_argument("method", choices=["GET", "POST"])
    p.add_argument("path")
    p.add_argument("--out", required=True)
    p.add_argument("--body")
    p.set_defaults(run=api_event)

    p = sub.add_parser("check-api")
    p.add_argument("file")
    p.add_argument("status", type=int)
    p.add_argument("pairs", nargs="*")
    p.add_argument("--save-body")
    p.set_defaults(run=check_api)

    p = sub.add_parser("check-json")
    p.add_argument("file")
    p.add_argument("pairs", nargs="*")
    p.set_defaults(run=check_json)

    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
