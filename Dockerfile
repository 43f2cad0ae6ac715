# finsent application image: one image, every role (worker, scheduler, ingest, dashboard, migrations).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 FINSENT_DATA_DIR=/var/lib/finsent

# Dependencies first, so code changes do not rebuild the heavy layer. Pass
# --build-arg PIP_EXTRA_INDEX_URL=... to take torch's CPU-only wheels from a mirror.
ARG PIP_EXTRA_INDEX_URL=
COPY pyproject.toml /tmp/finsent/
RUN pip install torch==2.13.0 \
 && python -c "import tomllib; print('\n'.join(tomllib.load(open('/tmp/finsent/pyproject.toml', 'rb'))['project']['dependencies']))" \
    > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

# A normal (not editable) install: the package, its migrations and the shipped model land in
# site-packages, and the sources are not kept.
COPY . /tmp/finsent/
RUN pip install --no-deps /tmp/finsent && rm -rf /tmp/finsent /tmp/requirements.txt \
 && useradd --system --home /var/lib/finsent finsent \
 && mkdir -p /var/lib/finsent && chown finsent /var/lib/finsent
WORKDIR /var/lib/finsent
USER finsent
ENTRYPOINT ["finsent"]
CMD ["--help"]
