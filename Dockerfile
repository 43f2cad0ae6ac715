# finsent application image: one image, every role (worker, scheduler, ingest, dashboard, migrations).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 FINSENT_DATA_DIR=/var/lib/finsent
WORKDIR /app

# Dependencies first, so code changes do not rebuild the heavy layer. Pass
# --build-arg PIP_EXTRA_INDEX_URL=... to take torch's CPU-only wheels from a mirror.
ARG PIP_EXTRA_INDEX_URL=
COPY pyproject.toml README.md ./
RUN mkdir -p finsent ingest model stream alerts dashboard migrations \
 && pip install torch==2.13.0 && pip install .  && pip uninstall -y finsent

COPY . .
RUN pip install --no-deps -e . && useradd --system --home /var/lib/finsent finsent \
 && mkdir -p /var/lib/finsent && chown finsent /var/lib/finsent
USER finsent
ENTRYPOINT ["finsent"]
CMD ["--help"]
