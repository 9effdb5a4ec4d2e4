# syntax=docker/dockerfile:1
# A small, non-root image of waitroom: `docker build -t waitroom .`

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Dependencies first, so that changing only waitroom's sources reuses this layer.
# The workspace's other members (the bench, the test kit) only need their manifests to resolve it.
COPY Cargo.toml Cargo.lock ./
COPY bench/Cargo.toml bench/Cargo.toml
COPY testkit/Cargo.toml testkit/Cargo.toml
RUN mkdir -p src bench/src testkit/src \
    && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && echo 'fn main() {}' > bench/src/main.rs && touch testkit/src/lib.rs \
    && cargo build --release --locked -p waitroom \
    && rm -rf src
COPY build.rs build.rs
COPY src src
COPY config config
COPY keys keys
COPY assets assets
# The commit `waitroom --version` names (the context has no .git): --build-arg BUILD_REVISION=...
ARG BUILD_REVISION=""
RUN touch src/main.rs src/lib.rs && cargo build --release --locked -p waitroom --bin waitroom

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 waitroom \
    && useradd --system --uid 10001 --gid waitroom --no-create-home --shell /usr/sbin/nologin waitroom
COPY --from=build /src/target/release/waitroom /usr/local/bin/waitroom
USER 10001:10001
ENV WAITROOM_LISTEN=0.0.0.0:8080 \
    WAITROOM_DRAIN_LISTEN=0.0.0.0:9090 \
    WAITROOM_LOG_FORMAT=json
EXPOSE 8080 9090
ENTRYPOINT ["waitroom"]
CMD ["serve"]
