# One image for the API, the synthesis worker and (built with EXTRAS=train) the training
# worker; the command picks the role.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /srv/distillery

COPY pyproject.toml README.md alembic.ini ./
COPY distillery ./distillery
COPY distillery_simulator ./distillery_simulator
ARG EXTRAS=""
RUN pip install -e ".${EXTRAS:+[$EXTRAS]}"

RUN useradd --system --home /srv/distillery distillery && mkdir -p /data && chown distillery /data
USER distillery
ENV DISTILLERY_DATA_DIR=/data
EXPOSE 8000
CMD ["distillery", "serve", "--host", "0.0.0.0", "--port", "8000"]
