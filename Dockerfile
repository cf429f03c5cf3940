# Nodus application image: web (daphne), workers and beat share it.
FROM node:20-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package*.json ./
RUN npm ci
COPY frontend/ ./
RUN npm run build

FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml ./
COPY webapp/ webapp/
COPY inference/ inference/
COPY training/ training/
COPY scripts/ scripts/
COPY manage.py ./
# CUDA build of torch in the image (GPU workers); pin the version the project is tested with.
RUN pip install torch==2.13.0 && pip install .
COPY --from=frontend /src/webapp/static/viewer webapp/static/viewer
RUN SECRET_KEY=build DATABASE_URL=sqlite:////tmp/x python manage.py collectstatic --noinput
EXPOSE 8000 11112
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "webapp.config.asgi:application"]
