# Sportello: visitor page, API and operator dashboard on one port (7860).
# Works as a Hugging Face Space (sdk: docker, app_port: 7860) and anywhere Docker runs.
# Everything that must persist (database, CSV sheets, backups, learned files, embedding cache, the visitor
# state key) is written under DATA_DIR=/data; the code in /app belongs to root and is read-only for the app.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=7860 \
    HOST=0.0.0.0 \
    DATA_DIR=/data

WORKDIR /app
# The runtime lock only: the tests' tools (pytest, playwright, ruff) are in requirements-dev.txt.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Embed the knowledge base and the labelled examples once at build time, into /app/data/cache (read-only at
# run time, read after DATA_DIR/cache), so the fused answerer starts in under a second instead of ~40 s (it
# falls back to lexical without AVX2). Nothing is written under /data at build time: a mounted volume would hide it.
RUN DATA_DIR=/app/data python -m sportello ask --kb data/faq.csv "ciao" > /dev/null
# Spaces run containers as uid 1000; /data is where persistent storage is mounted.
RUN useradd --create-home --uid 1000 user \
    && mkdir -p /data \
    && chown user:user /data
USER user

EXPOSE 7860
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"7860\")}/api/health', timeout=4)"
CMD ["python", "app.py"]
