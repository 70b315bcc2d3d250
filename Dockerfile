# The asset-ledger command line (consumer, ledger init, reads, proofs) in one image.
#
#   docker build -t asset-ledger:local .
#   docker run --rm asset-ledger:local --help
#
# Used by docker-compose.yml (services init, consumer, witness and portal); see docs/deploy.md.

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# An unprivileged user; /keys, /witness and the portal's accounts folder belong to it so that a
# fresh named volume mounted there (which Docker seeds from the image, ownership included) can
# receive the log key written by `assetledger init` (or a witness's key and state, or accounts).
RUN useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/assetledger \
        assetledger \
    && mkdir -p /keys/trusted /witness /var/lib/assetledger/accounts \
    && chown -R assetledger:assetledger /keys /witness /var/lib/assetledger

# Only what the package needs, so a local .venv, .git or ledger files never reach the image.
WORKDIR /src
COPY pyproject.toml setup.py ./
COPY cli ./cli
COPY consumers ./consumers
COPY demo ./demo
COPY ledger ./ledger
COPY portal ./portal
COPY producers ./producers
COPY schemas ./schemas

# The postgres extra for a shared ledger, the portal extra for `assetledger serve`;
# kafka-python's codec extras so that the consumer can read batches compressed with snappy,
# lz4 or zstd as well as gzip.
RUN pip install ".[postgres,portal]" "kafka-python[lz4,snappy,zstd]" \
    && cd / && rm -rf /src

WORKDIR /var/lib/assetledger
USER assetledger

ENTRYPOINT ["assetledger"]
CMD ["--help"]
