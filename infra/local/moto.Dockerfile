# moto server, an AWS emulator, built from the offline Debian base (infra/scripts/offline-base.sh)
# instead of pulled from a registry: python3 from Debian's mirror, moto from the Python package index.
#
#   docker build -f infra/local/moto.Dockerfile -t gavel-moto:5.2.5 infra/local
#   docker run --rm -p 127.0.0.1:4566:4566 gavel-moto:5.2.5
#
# It listens on 0.0.0.0:4566, LocalStack's port, so that infra/local/env.json and host.env serve
# both emulators. compose.yaml's moto profile and infra/scripts/sam-local.sh build it.
#
# Behind a TLS-intercepting proxy, pass the CA certificates this host trusts (PEM text), e.g.
#   --build-arg EXTRA_CA_CERTS="$(cat /usr/local/share/ca-certificates/*.crt)"
# (sam-local.sh does; certificates are public, no secret goes into the image).
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

ARG MOTO_VERSION=5.2.5
ARG EXTRA_CA_CERTS=""
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && if [ -n "$EXTRA_CA_CERTS" ]; then \
      printf '%s\n' "$EXTRA_CA_CERTS" >/usr/local/share/ca-certificates/build-extra.crt \
      && update-ca-certificates >/dev/null; \
    fi
RUN python3 -m venv /opt/moto \
 && PIP_CERT=/etc/ssl/certs/ca-certificates.crt /opt/moto/bin/pip install --no-cache-dir \
      --disable-pip-version-check "moto[server]==${MOTO_VERSION}" \
 && /opt/moto/bin/moto_server --help >/dev/null

EXPOSE 4566
HEALTHCHECK --interval=2s --timeout=3s --retries=30 \
  CMD curl -fsS -o /dev/null http://127.0.0.1:4566/moto-api/ || exit 1
ENTRYPOINT ["/opt/moto/bin/moto_server", "-H", "0.0.0.0"]
CMD ["-p", "4566"]
