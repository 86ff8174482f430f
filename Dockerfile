# Two stages: build the PWA with Node, then run the API (which also serves the PWA and the portal) under gunicorn.
FROM node:20-bookworm-slim AS pwa
WORKDIR /src/pwa
COPY pwa/package.json pwa/package-lock.json ./
RUN npm install --no-audit --no-fund
COPY pwa/ ./
RUN npm run build

FROM python:3.11-slim-bookworm
# glibc arenas and mmap threshold keep streamed uploads from bloating worker RSS (bench/upload.py)
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 SHUANGSUI_DATA=/var/lib/shuangsui \
    MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=1048576
RUN apt-get update \
 && apt-get install -y --no-install-recommends fonts-noto-cjk ffmpeg \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /app shuangsui
WORKDIR /app
COPY pyproject.toml README.md ./
COPY backend/ backend/
COPY storage/ storage/
RUN pip install --no-cache-dir .
COPY --from=pwa /src/pwa/dist pwa/dist
RUN mkdir -p /var/lib/shuangsui && chown shuangsui /var/lib/shuangsui
USER shuangsui
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", "--workers", "4", "--threads", "8", \
     "--timeout", "300", "--access-logfile", "-", "backend.wsgi:app"]
