# An offline stand-in for SAM's Lambda base image of the provided.al2023 runtime (x86_64), for
# `sam local invoke|start-api --skip-pull-image` where that image cannot be pulled. Built from the
# offline Debian base (infra/scripts/offline-base.sh) and tagged with the name SAM looks for, which
# infra/scripts/sam-local.sh reads from the installed samcli package at run time:
#
#   tag="$(.venv/sam/bin/python -c 'from samcli.local.docker.lambda_image import LambdaImage, Runtime;
#          print(LambdaImage._INVOKE_REPO_PREFIX + "/" + Runtime.get_image_name_tag("provided.al2023", "x86_64"))')"
#   docker build -f infra/local/lambda-provided.Dockerfile -t "$tag" infra/local
#
# SAM builds its own image on top (its runtime interface emulator in /var/rapid, the function's
# code mounted at /var/task). The functions are Rust binaries named bootstrap, linked by cargo-lambda
# against glibc 2.30 at most: Debian bookworm's glibc 2.36 runs them. The real image is Amazon
# Linux 2023; this one only provides what a provided.al2023 function expects of it: glibc, CA
# certificates (and AL2023's path of their bundle, which template.yaml names), the Lambda
# directories and environment.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

LABEL org.gavel.stand-in="provided.al2023 x86_64, built by infra/scripts/sam-local.sh"

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/task /var/runtime /var/lang/bin /opt/extensions /etc/pki/tls/certs \
 && ln -s /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt

ENV LANG=C.UTF-8 \
    TZ=:/etc/localtime \
    LAMBDA_TASK_ROOT=/var/task \
    LAMBDA_RUNTIME_DIR=/var/runtime \
    PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin \
    LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib
WORKDIR /var/task
