#!/usr/bin/env python3
"""Creates Gavel's AWS resources in a local emulator (LocalStack or moto), the way template.yaml does.

    python infra/local/bootstrap.py [--endpoint-url http://127.0.0.1:4566]

Idempotent: what exists is left as it is. Creates the jobs bucket (lifecycle on jobs/), the jobs
queue and its dead-letter queue (redrive after 3 receives), the complete function's on-failure
queue, the jobs table (on-demand, hash key
job_id, the listing index, TTL on expires_at) and, where the emulator has ECS (moto; not LocalStack's free edition),
the cluster, one runner task definition per language and a network for the tasks (a VPC with one
subnet and a security group, as infra/network.yaml makes; RunTask in moto needs real ones). Prints
the environment the functions need (the same values as infra/local/env.json, with this endpoint).

    --env-vars-out FILE   also writes a `sam local --env-vars` file: infra/local/env.json (or
                          --env-vars-in) with the emulator's own subnet and security group ids

LocalStack runs it by itself when ready (infra/local/localstack-ready.py, mounted by compose.yaml).
Needs only boto3 (in the repo's .venv/sam, which infra/scripts/check-template.sh creates).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

DEFAULTS = {
    "region": "us-east-1",
    "table": "gavel-jobs",
    "bucket": "gavel-jobs-local",
    "queue": "gavel-jobs",
    "dlq": "gavel-jobs-dlq",
    "failures_queue": "gavel-complete-failures",
    "cluster": "gavel-local",
    "family_prefix": "gavel-local-runner-",
}
# The catalogue of functions/gavel-core/src/language.rs; template.yaml has one task definition each.
LANGUAGES = ["python", "javascript", "cpp", "c", "csharp", "java", "go", "rust", "typescript", "ruby", "bash"]
# The runner tasks' network (template.yaml takes it as parameters; infra/network.yaml makes it).
VPC_NAME = "gavel-local"
VPC_CIDR = "10.42.0.0/16"
SUBNET_CIDR = "10.42.1.0/24"
SECURITY_GROUP = "gavel-local-runner-tasks"
# The dispatch function's timeout is 60 s; SQS visibility is 6x that, as in template.yaml. The
# queues the complete function (30 s) consumes: 6x its timeout.
VISIBILITY_TIMEOUT = "360"
COMPLETE_VISIBILITY_TIMEOUT = "180"
# The functions read it as GAVEL_MAX_RECEIVES (template.yaml: MaxReceiveCount).
MAX_RECEIVE_COUNT = 3


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("AWS_ENDPOINT_URL") or "http://127.0.0.1:4566",
        help="the emulator (default: $AWS_ENDPOINT_URL or http://127.0.0.1:4566)",
    )
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION") or DEFAULTS["region"])
    parser.add_argument("--table", default=os.environ.get("GAVEL_JOBS_TABLE") or DEFAULTS["table"])
    parser.add_argument("--bucket", default=os.environ.get("GAVEL_BUCKET") or DEFAULTS["bucket"])
    parser.add_argument("--queue", default=DEFAULTS["queue"])
    parser.add_argument("--dlq", default=DEFAULTS["dlq"])
    parser.add_argument("--failures-queue", default=DEFAULTS["failures_queue"])
    parser.add_argument("--cluster", default=DEFAULTS["cluster"])
    parser.add_argument(
        "--family-prefix", default=os.environ.get("GAVEL_TASK_FAMILY_PREFIX") or DEFAULTS["family_prefix"]
    )
    parser.add_argument("--image-prefix", default="gavel-", help="runner image = prefix + language + :latest (as build-images.sh names them)")
    parser.add_argument(
        "--env-vars-in",
        default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "env.json"),
        help="the sam local --env-vars file to start from (default: infra/local/env.json)",
    )
    parser.add_argument(
        "--env-vars-out",
        help="write --env-vars-in here with this emulator's subnet and security group (for sam local)",
    )
    return parser.parse_args(argv)


def client(service: str, args: argparse.Namespace):
    import boto3

    # Emulators accept any credentials; never pick up real ones for this.
    return boto3.client(
        service,
        endpoint_url=args.endpoint_url,
        region_name=args.region,
        aws_access_key_id=os.environ.get("GAVEL_LOCAL_ACCESS_KEY_ID", "test"),
        aws_secret_access_key=os.environ.get("GAVEL_LOCAL_SECRET_ACCESS_KEY", "test"),
    )


def error_code(err: Exception) -> str:
    return getattr(err, "response", {}).get("Error", {}).get("Code", "")


def make_bucket(args: argparse.Namespace) -> None:
    s3 = client("s3", args)
    try:
        if args.region == "us-east-1":
            s3.create_bucket(Bucket=args.bucket)
        else:
            s3.create_bucket(
                Bucket=args.bucket, CreateBucketConfiguration={"LocationConstraint": args.region}
            )
        print(f"bucket {args.bucket}: created")
    except Exception as err:  # noqa: BLE001 - botocore's ClientError, without importing botocore
        if error_code(err) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
        print(f"bucket {args.bucket}: exists")
    s3.put_bucket_lifecycle_configuration(
        Bucket=args.bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "expire-jobs",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "jobs/"},
                    "Expiration": {"Days": 1},
                }
            ]
        },
    )


def make_queues(args: argparse.Namespace) -> tuple[str, str]:
    sqs = client("sqs", args)
    consumed_by_complete = {"MessageRetentionPeriod": "1209600", "VisibilityTimeout": COMPLETE_VISIBILITY_TIMEOUT}
    dlq_url = sqs.create_queue(QueueName=args.dlq, Attributes=consumed_by_complete)["QueueUrl"]
    failures_url = sqs.create_queue(QueueName=args.failures_queue, Attributes=consumed_by_complete)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    attributes = {
        "VisibilityTimeout": VISIBILITY_TIMEOUT,
        "MessageRetentionPeriod": "86400",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}),
    }
    try:
        queue_url = sqs.create_queue(QueueName=args.queue, Attributes=attributes)["QueueUrl"]
    except Exception as err:  # noqa: BLE001
        if error_code(err) not in ("QueueAlreadyExists", "QueueNameExists"):
            raise
        queue_url = sqs.get_queue_url(QueueName=args.queue)["QueueUrl"]
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes=attributes)
    print(f"queue {queue_url} (dead letters: {dlq_url}; complete's failures: {failures_url})")
    return queue_url, dlq_url


def make_table(args: argparse.Namespace) -> None:
    ddb = client("dynamodb", args)
    try:
        ddb.create_table(
            TableName=args.table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": "job_id", "AttributeType": "S"},
                {"AttributeName": "list_tag", "AttributeType": "S"},
                {"AttributeName": "created_at", "AttributeType": "N"},
            ],
            KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
            # As template.yaml: the sparse index the Judge0 API's GET /submissions pages.
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "listing",
                    "KeySchema": [
                        {"AttributeName": "list_tag", "KeyType": "HASH"},
                        {"AttributeName": "created_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["list_items", "expires_at_ms"]},
                }
            ],
        )
        ddb.get_waiter("table_exists").wait(TableName=args.table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        print(f"table {args.table}: created")
    except Exception as err:  # noqa: BLE001
        if error_code(err) != "ResourceInUseException":
            raise
        print(f"table {args.table}: exists")
    ttl = ddb.describe_time_to_live(TableName=args.table)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        ddb.update_time_to_live(
            TableName=args.table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
        )


def make_network(args: argparse.Namespace) -> tuple[str, str]:
    """The runner tasks' subnet and security group (found by name, else created)."""
    ec2 = client("ec2", args)
    named = [{"Name": "tag:Name", "Values": [VPC_NAME]}]
    vpcs = ec2.describe_vpcs(Filters=named)["Vpcs"]
    if vpcs:
        vpc_id = vpcs[0]["VpcId"]
    else:
        vpc_id = ec2.create_vpc(
            CidrBlock=VPC_CIDR,
            TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": VPC_NAME}]}],
        )["Vpc"]["VpcId"]
    # As infra/network.yaml (interface endpoints with private DNS need both); moto's RunTask
    # also fails without DNS hostnames (it names the task's network interface).
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
    ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})
    in_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    subnets = ec2.describe_subnets(Filters=in_vpc)["Subnets"]
    if subnets:
        subnet_id = subnets[0]["SubnetId"]
    else:
        subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock=SUBNET_CIDR)["Subnet"]["SubnetId"]
    groups = ec2.describe_security_groups(Filters=in_vpc + [{"Name": "group-name", "Values": [SECURITY_GROUP]}])
    if groups["SecurityGroups"]:
        group_id = groups["SecurityGroups"][0]["GroupId"]
    else:
        group_id = ec2.create_security_group(
            GroupName=SECURITY_GROUP, Description="Gavel runner tasks (local)", VpcId=vpc_id
        )["GroupId"]
    print(f"network {vpc_id}: subnet {subnet_id}, security group {group_id}")
    return subnet_id, group_id


def make_ecs(args: argparse.Namespace) -> tuple[str, str, str] | None:
    """The cluster, task definitions and the tasks' network where the emulator has ECS (cluster ARN,
    subnet, security group); None where it has not."""
    ecs = client("ecs", args)
    try:
        cluster_arn = ecs.create_cluster(clusterName=args.cluster)["cluster"]["clusterArn"]
    except Exception as err:  # noqa: BLE001
        print(f"ecs: not available in this emulator ({error_code(err) or err}); dispatch cannot RunTask here")
        return None
    for language in LANGUAGES:
        ecs.register_task_definition(
            family=f"{args.family_prefix}{language}",
            requiresCompatibilities=["FARGATE"],
            networkMode="awsvpc",
            cpu="1024",
            memory="2048",
            executionRoleArn="arn:aws:iam::000000000000:role/gavel-local-runner-execution",
            volumes=[{"name": "scratch"}],
            containerDefinitions=[
                {
                    "name": "runner",
                    "image": f"{args.image_prefix}{language}:latest",
                    "essential": True,
                    # template.yaml sizes the task only; moto's RunTask needs the container's own.
                    "memory": 2048,
                    "readonlyRootFilesystem": True,
                    # As template.yaml: the task is the boundary.
                    "environment": [
                        {"name": "RUST_LOG", "value": "warn"},
                        {"name": "GAVEL_ISOLATION", "value": "container"},
                    ],
                    "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/tmp", "readOnly": False}],
                }
            ],
        )
    print(f"ecs cluster {cluster_arn}: task families {args.family_prefix}{{{','.join(LANGUAGES)}}}")
    subnet, group = make_network(args)
    return cluster_arn, subnet, group


def write_env_vars(args: argparse.Namespace, subnet: str | None, group: str | None) -> None:
    """--env-vars-in with this emulator's network ids and redrive, for `sam local --env-vars`."""
    with open(args.env_vars_in, encoding="utf-8") as f:
        env_vars = json.load(f)
    for section in env_vars.values():
        if "GAVEL_MAX_RECEIVES" in section:
            section["GAVEL_MAX_RECEIVES"] = str(MAX_RECEIVE_COUNT)
        if subnet and group and "GAVEL_SUBNETS" in section:
            section["GAVEL_SUBNETS"] = subnet
        if subnet and group and "GAVEL_SECURITY_GROUPS" in section:
            section["GAVEL_SECURITY_GROUPS"] = group
    os.makedirs(os.path.dirname(os.path.abspath(args.env_vars_out)), exist_ok=True)
    with open(args.env_vars_out, "w", encoding="utf-8") as f:
        json.dump(env_vars, f, indent=2)
        f.write("\n")
    print(f"sam local env vars: {args.env_vars_out}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"bootstrapping Gavel resources at {args.endpoint_url} ({args.region})")
    make_bucket(args)
    queue_url, _ = make_queues(args)
    make_table(args)
    ecs = make_ecs(args)
    cluster, subnet, group = ecs if ecs else (None, None, None)
    env = {
        "AWS_ENDPOINT_URL": args.endpoint_url,
        "AWS_REGION": args.region,
        "GAVEL_JOBS_TABLE": args.table,
        "GAVEL_BUCKET": args.bucket,
        "GAVEL_QUEUE_URL": queue_url,
        "GAVEL_CLUSTER": cluster or args.cluster,
        "GAVEL_TASK_FAMILY_PREFIX": args.family_prefix,
        "GAVEL_MAX_RECEIVES": str(MAX_RECEIVE_COUNT),
    }
    if subnet and group:
        env["GAVEL_SUBNETS"] = subnet
        env["GAVEL_SECURITY_GROUPS"] = group
    print("environment for the functions on this host:")
    for name, value in env.items():
        print(f"  {name}={value}")
    if args.env_vars_out:
        write_env_vars(args, subnet, group)
    return 0


if __name__ == "__main__":
    sys.exit(main())
