FROM python:3.11-slim
WORKDIR /srv/jifen
COPY pyproject.toml README.md ./
COPY app ./app
COPY graphql_schema ./graphql_schema
# The member page and the vendored browser libraries (GraphiQL's too), served from the source tree.
COPY web ./web
# Without the `embedded` extra: the image runs against MongoDB (JIFEN_MONGODB_URL).
RUN pip install --no-cache-dir -e . && useradd --system jifen && mkdir -p /var/lib/jifen && chown jifen /var/lib/jifen
ENV JIFEN_DATA_DIR=/var/lib/jifen
USER jifen
EXPOSE 8000
CMD ["jifen", "serve", "--host", "0.0.0.0", "--port", "8000"]
