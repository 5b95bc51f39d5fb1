# doe-bot in HTTP mode. Build: docker build -t doe-bot .   Run: docker run --env-file .env -p 3000:3000 doe-bot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    MALLOC_ARENA_MAX=2 \
    PORT=3000

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY templates ./templates
# Installed in place, so the app finds its bundled templates beside bot/ (as in a checkout) and renders them
# without the sandbox that DOE_TEMPLATES_DIR's templates get (bot/templating.py).
RUN pip install -e . && useradd --system --uid 10001 doe
USER doe

EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import os,urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=2)"
# HOST, PORT, WEB_CONCURRENCY and DOE_HTTP_THREADS are read by doe-bot serve itself (see README, Configuration).
CMD ["doe-bot", "serve"]
