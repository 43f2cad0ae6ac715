# finsent application image: one image, every role (worker, scheduler, ingest, dashboard, migrations).
#
#   docker build -t finsent .                                   # CPU torch (the default)
#   docker build -t finsent:gpu --build-arg TORCH_VARIANT=cu128 .   # CUDA torch, for the gpu profile
#
# Two stages: the first builds finsent's wheel, the second installs it normally (not editable) with
# the runtime dependencies only (no training, test or teacher extras), every version pinned by
# constraints.txt, the file CI installs with too.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && cp constraints.txt /wheels/constraints.txt

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 FINSENT_DATA_DIR=/var/lib/finsent
# torch's wheel variant: cpu (default, about 200 MB) or a CUDA one such as cu128. PyPI's plain
# torch wheel for x86-64 Linux is the CUDA build (several GB), so the variant's own index is used.
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/${TORCH_VARIANT}
COPY --from=build /wheels /wheels
# torch first from its variant's index (pinned by the constraints), then finsent and the rest from PyPI.
RUN pip install --index-url "${TORCH_INDEX_URL}" -c /wheels/constraints.txt torch \
 && pip install -c /wheels/constraints.txt /wheels/finsent-*.whl \
 && rm -rf /wheels \
 && useradd --system --home /var/lib/finsent finsent \
 && mkdir -p /var/lib/finsent && chown finsent /var/lib/finsent
WORKDIR /var/lib/finsent
USER finsent
ENTRYPOINT ["finsent"]
CMD ["--help"]
