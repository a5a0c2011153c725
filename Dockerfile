FROM python:3.11-slim
WORKDIR /srv/jifen
COPY pyproject.toml README.md ./
COPY app ./app
COPY graphql_schema ./graphql_schema
# The member page and the vendored browser libraries (GraphiQL's too), served from the source tree.
COPY web ./web
# Without the `embedded` extra: the image runs against MongoDB (JIFEN_MONGODB_URL).
# A fixed uid, named by docker-compose.yml: the keys the `keys` service makes are this user's.
# Its folders exist in the image owned by it, so a new volume mounted on one is its too.
RUN pip install --no-cache-dir -e . \
    && groupadd --system --gid 10001 jifen \
    && useradd --system --uid 10001 --gid jifen --no-create-home jifen \
    && mkdir -p /var/lib/jifen /run/keys \
    && chown jifen:jifen /var/lib/jifen /run/keys \
    && chmod 0700 /var/lib/jifen /run/keys
ENV JIFEN_DATA_DIR=/var/lib/jifen
USER 10001:10001
EXPOSE 8000
CMD ["jifen", "serve", "--host", "0.0.0.0", "--port", "8000"]
