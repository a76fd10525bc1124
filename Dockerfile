# syntax=docker/dockerfile:1
# The image examples/kubernetes/ runs: roachcert with the `engine` extra (Terraform embedded, no terraform
# binary to install), as a non-root user, on a read-only root file system. It writes nothing outside the
# volumes the pod mounts: HOME and the caches point into /tmp (an emptyDir); the work folder (.roachcert/,
# Terraform's plugin cache included) and the certificates live in their own volumes.
#
#   docker build -t registry.example.com/roachcert:0.1.0 .
#   docker run --rm --read-only --tmpfs /tmp registry.example.com/roachcert:0.1.0 validate /stacks/prod.yaml

# Stage 1: the wheels, roachcert's built from this checkout, its dependencies' from PyPI.
FROM python:3.12-slim AS wheels
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cli ./cli
COPY templates ./templates
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[engine]'

# Stage 2: only the installed wheels; no compiler, no source, no pip cache.
FROM python:3.12-slim
RUN groupadd --gid 10001 roachcert \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin roachcert
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels 'roachcert[engine]' \
    && roachcert --version
# A read-only root file system: everything written goes to /tmp or a mounted volume.
ENV HOME=/tmp \
    XDG_CACHE_HOME=/tmp/.cache \
    ROACHCERT_CACHE=/tmp/.cache/roachcert \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /work
USER 10001:10001
ENTRYPOINT ["roachcert"]
CMD ["--help"]
