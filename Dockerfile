# The engine's image: `gitops` as the entry point (web, worker, beat, validate...), for charts/gitops.
# Not built by the tests (no container builder there): docs/helm-chart.md, "Building the image".
#
#   docker build -t registry.example.com/gitops:0.1.0 .
#
# Two stages: the builder installs requirements/lock.txt with its hashes (as scripts/bootstrap does)
# and the project into a virtualenv; the runtime stage copies only that virtualenv. No git binary:
# pygit2's wheels bundle libgit2 (with libssh2 and OpenSSL), and the web, worker and beat never run
# `git` (only `gitops plan` over a working tree asks it for a file list, and does without it).
# HTTPS certificates: the base image's ca-certificates (/etc/ssl/certs, where pygit2 looks).
# The runtime runs as UID/GID 10001 on a read-only root filesystem: the only writable places are /tmp
# and /data (GITOPS_DATA_DIR: Git caches), both volumes in the chart.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/gitops
WORKDIR /src
COPY requirements/lock.txt requirements/lock.txt
RUN /opt/gitops/bin/pip install --require-hashes --no-deps -r requirements/lock.txt
COPY pyproject.toml README.md ./
COPY gitops gitops
COPY renderers renderers
COPY kubesandbox kubesandbox
COPY workers workers
COPY web web
RUN /opt/gitops/bin/pip install --no-deps --no-build-isolation . \
 && /opt/gitops/bin/gitops --help >/dev/null

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 gitops \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home --shell /usr/sbin/nologin gitops \
 && mkdir -p /config /data \
 && chown 10001:10001 /data
COPY --from=build /opt/gitops /opt/gitops
ENV PATH=/opt/gitops/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    GITOPS_CONFIG=/config \
    GITOPS_DATA_DIR=/data \
    GITOPS_CACHE_DIR=/data/cache
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["gitops"]
CMD ["--help"]
