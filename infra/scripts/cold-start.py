#!/usr/bin/env python3
"""Size and cold start of each function's bootstrap, as `sam build` made it.

Cold start = from spawning the binary to its answer to the first event, against a local Lambda
runtime API (this script plays it) and the AWS emulator at GAVEL_TEST_AWS_ENDPOINT (moto, see
infra/scripts/moto.sh), in two parts: init (spawn to the first poll for an event: the process
start, the SDK's configuration and clients, Lambda's "Init Duration") and the first event (poll
to answer: its calls to the emulator, whose own latency, in Python, is most of it). Run from the
repo root after `infra/scripts/check-template.sh build` (scripts/test-all runs both), with the
venv's python (it has boto3):

    .venv/moto/bin/python infra/scripts/cold-start.py [--runs N] [--build-dir DIR]

--build-dir defaults to target/sam/build (DIR/<Function>/bootstrap).
"""

import argparse
import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid

import boto3

ENDPOINT = os.environ.get("GAVEL_TEST_AWS_ENDPOINT", "")
if not ENDPOINT:
    sys.exit("GAVEL_TEST_AWS_ENDPOINT is not set: start moto with infra/scripts/moto.sh start")
REGION = "us-east-1"
# The functions read the CA bundle template.yaml names (AL2023's); where this host keeps its own.
CA_BUNDLE = next((path for path in ("/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/certs/ca-certificates.crt")
                  if os.path.isfile(path)), None)
if CA_BUNDLE is None:
    sys.exit("no CA bundle at /etc/pki/tls/certs/ca-bundle.crt or /etc/ssl/certs/ca-certificates.crt")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": REGION}


def fixture(name):
    with open(os.path.join("infra", "events", name)) as f:
        return json.load(f)


def resources():
    """A table, bucket and queue of their own on the emulator; the env the functions read."""
    name = f"gavel-cold-{uuid.uuid4().hex[:12]}"
    client = lambda service: boto3.client(service, endpoint_url=ENDPOINT, region_name=REGION,
                                          aws_access_key_id="test", aws_secret_access_key="test")
    client("dynamodb").create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}])
    client("s3").create_bucket(Bucket=name)
    queue_url = client("sqs").create_queue(QueueName=name)["QueueUrl"]
    return {
        **CREDENTIALS,
        "AWS_ENDPOINT_URL": ENDPOINT,
        "GAVEL_JOBS_TABLE": name,
        "GAVEL_BUCKET": name,
        "GAVEL_QUEUE_URL": queue_url,
        "GAVEL_CLUSTER": name,
        "GAVEL_SUBNETS": "subnet-00000001",
        "GAVEL_SECURITY_GROUPS": "sg-00000001",
        "GAVEL_TASK_FAMILY_PREFIX": f"{name}-",
        "GAVEL_MAX_RECEIVES": "3",
    }


def events():
    """One realistic event per function, each one that makes the function call AWS."""
    health = fixture("api-get-result.json")
    health["path"] = "/health"
    health["pathParameters"] = {"proxy": "health"}
    health["queryStringParameters"] = None
    health["multiValueQueryStringParameters"] = None
    job = str(uuid.uuid4())
    sqs = fixture("sqs-dispatch.json")
    sqs["Records"] = sqs["Records"][:1]
    sqs["Records"][0]["body"] = json.dumps(
        {"job_id": job, "language": "python", "bundle_key": f"jobs/{job}/bundle.json"})
    s3 = fixture("s3-report-written.json")
    s3["Records"][0]["s3"]["object"]["key"] = f"jobs/{job}/report.json"
    dead = fixture("sqs-dead-letter.json")
    dead["Records"][0]["body"] = sqs["Records"][0]["body"]
    return [("ApiFunction", health), ("DispatchFunction", sqs), ("CompleteFunction", s3),
            ("CompleteFunction", dead)]


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    """The Lambda runtime API, for one event: hands it out, then notes when the answer arrives."""

    event = b"{}"
    polled = None
    answered = None
    answer = b""

    def do_GET(self):
        if not self.path.endswith("/invocation/next"):
            self.send_error(404)
            return
        if RuntimeApi.polled is None:
            RuntimeApi.polled = time.perf_counter()
        if RuntimeApi.answered is not None:
            # One event only: the next poll gets nothing before the process is killed.
            self.close_connection = True
            return
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", "cold-start-1")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30_000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         "arn:aws:lambda:us-east-1:123456789012:function:cold-start")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(RuntimeApi.event)))
        self.end_headers()
        self.wfile.write(RuntimeApi.event)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        RuntimeApi.answer = self.rfile.read(length)
        RuntimeApi.answered = time.perf_counter()
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args):
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    """The function is killed after its answer, maybe while polling again: that is no error."""

    def handle_error(self, request, client_address):
        pass


def cold_start(binary, env, event):
    RuntimeApi.event = json.dumps(event).encode()
    RuntimeApi.polled = None
    RuntimeApi.answered = None
    server = QuietServer(("127.0.0.1", 0), RuntimeApi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    full_env = {"PATH": os.environ["PATH"], "SSL_CERT_FILE": CA_BUNDLE, **env,
                "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
                "AWS_LAMBDA_FUNCTION_NAME": "cold-start", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_GROUP_NAME": "cold",
                "AWS_LAMBDA_LOG_STREAM_NAME": "cold"}
    started = time.perf_counter()
    process = subprocess.Popen([binary], env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = started + 30
        while RuntimeApi.answered is None:
            if time.perf_counter() > deadline or process.poll() is not None:
                sys.exit(f"{binary} gave no answer (exit {process.poll()})")
            time.sleep(0.0005)
        milliseconds = lambda since, until: (until - since) * 1000
        return (milliseconds(started, RuntimeApi.answered), milliseconds(started, RuntimeApi.polled),
                RuntimeApi.answer)
    finally:
        process.kill()
        process.wait()
        server.shutdown()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--build-dir", default=os.path.join("target", "sam", "build"))
    args = parser.parse_args()
    env = resources()
    print(f"{'function':<17} {'bytes':>10} {'cold start, median of ' + str(args.runs):>25} {'range':>15}"
          f" {'of it init':>11}  first answer")
    for function, event in events():
        binary = os.path.join(args.build_dir, function, "bootstrap")
        if not os.path.isfile(binary):
            sys.exit(f"{binary} is missing: run infra/scripts/check-template.sh build first")
        times, inits, answer = [], [], b""
        for _ in range(args.runs):
            elapsed, init, answer = cold_start(binary, env, event)
            times.append(elapsed)
            inits.append(init)
        print(f"{function:<17} {os.path.getsize(binary):>10} {statistics.median(times):>22.1f} ms "
              f"{min(times):>6.1f}-{max(times):.1f} ms {statistics.median(inits):>8.1f} ms"
              f"  {answer[:60].decode(errors='replace')}")


if __name__ == "__main__":
    main()
