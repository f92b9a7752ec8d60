# syntax=docker/dockerfile:1
# The inferd server image: `docker build -t inferd:0.1.0 .` (CPU) or
# `docker build --build-arg VARIANT=gpu -t inferd:0.1.0-gpu .` (onnxruntime's CUDA provider and
# NVML; the host's NVIDIA driver comes in through the NVIDIA container toolkit).
# `inferd k8s render` uses the `-gpu` tag for pods that ask for GPUs.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ARG VARIANT=cpu
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
# One virtual environment, copied whole into the runtime stage (no compilers or caches there).
RUN python -m venv /opt/inferd \
    && /opt/inferd/bin/pip install --no-cache-dir ".[sklearn,xgboost,lightgbm]" \
    && if [ "$VARIANT" = "gpu" ]; then \
         /opt/inferd/bin/pip install --no-cache-dir ".[gpu]" \
         && /opt/inferd/bin/pip uninstall --yes onnxruntime \
         && /opt/inferd/bin/pip install --no-cache-dir "onnxruntime-gpu[cuda,cudnn]"; \
       elif [ "$VARIANT" != "cpu" ]; then \
         echo "VARIANT must be cpu or gpu, got $VARIANT" >&2; exit 1; \
       fi \
    && find /opt/inferd -name __pycache__ -type d -prune -exec rm -rf {} +

FROM python:${PYTHON_VERSION}-slim
ARG VARIANT=cpu
LABEL org.opencontainers.image.title="inferd" \
      org.opencontainers.image.description="inferd model server (Open Inference Protocol v2)" \
      org.opencontainers.image.licenses="Apache-2.0" \
      dev.inferd.variant="${VARIANT}"
# The same numeric user the Kubernetes renderer runs pods as (runAsUser 10001).
RUN groupadd --gid 10001 inferd \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/inferd \
         --shell /usr/sbin/nologin inferd \
    && mkdir -p /var/lib/inferd \
    && chown 10001:10001 /var/lib/inferd
COPY --from=build /opt/inferd /opt/inferd
ENV PATH=/opt/inferd/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    INFERD_HOME=/var/lib/inferd \
    INFERD_HOST=0.0.0.0 \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001:10001
WORKDIR /var/lib/inferd
VOLUME ["/var/lib/inferd"]
EXPOSE 8080 8081
# Liveness, as Kubernetes probes it; the image has no curl, Python is already there.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/v2/health/live', timeout=2).status != 200)"]
ENTRYPOINT ["inferd"]
CMD ["--help"]
