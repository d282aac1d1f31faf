# syntax=docker/dockerfile:1
# One image, both services (DESIGN.md, "Deployment and scale"): `grader` and `render-service`
# in /usr/local/bin. cloudrun.yaml picks the program with `command`; the image's default is the
# grader's HTTP service. Both listen on $PORT (Cloud Run sets it; 8080 otherwise).
#
# The base images are build arguments so that the same file builds against a registry (the
# defaults) or against local bases where no registry is reachable (deploy/container-check.sh).
# The builder must be a Rust image laid out like the official one (cargo on PATH,
# CARGO_HOME=/usr/local/cargo, a C compiler for ring, aws-lc and SQLite); the runtime needs only
# glibc, libgcc_s and CA certificates (TLS to Google's APIs goes through rustls with the system's
# roots), plus libturbojpeg from the builder's Debian (the grader opens it at run time to decode
# JPEG scans; it needs only glibc). Nothing in a production path shells out (pdftoppm is only
# used by the tests).
ARG RUST_IMAGE=docker.io/library/rust:1-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# The registry and the target folder are cache mounts: a rebuild after a source change compiles
# only the crates that changed, not the ~400 dependencies. The binaries are copied out of the
# cache mount within the same step, as the mount is not part of the layer. The release profile's
# line tables are stripped (function names stay for backtraces): ~170 MB a binary otherwise.
RUN --mount=type=cache,id=gabarito-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=gabarito-target,target=/src/target \
    cargo build --release --locked -p grader -p render-service --bins \
    && mkdir -p /out/bin /out/data \
    && cp target/release/grader target/release/render-service /out/bin/ \
    && strip --strip-debug /out/bin/grader /out/bin/render-service

# The JPEG decoder the grader prefers (grader/turbojpeg): without it, it decodes in pure Rust
# (about a quarter more CPU a scan). /usr/lib is on the dynamic loader's default path everywhere.
RUN apt-get update -qq \
    && apt-get install -y -qq --no-install-recommends libturbojpeg0 \
    && mkdir -p /out/lib \
    && cp -L "/usr/lib/$(gcc -print-multiarch)/libturbojpeg.so.0" /out/lib/ \
    && rm -rf /var/lib/apt/lists/*

FROM ${RUNTIME_IMAGE}
COPY --from=build /out/bin/ /usr/local/bin/
COPY --from=build /out/lib/ /usr/lib/
# The working folder: the embedded SQLite file and the local object folder when DATABASE_URL
# and GABARITO_STORAGE are not set (a local run with a volume here). On Cloud Run both point
# elsewhere (Cloud SQL, gs://) and nothing is written but TMPDIR.
COPY --from=build --chown=65532:65532 /out/data /var/lib/gabarito
WORKDIR /var/lib/gabarito
# distroless's "nonroot" user; by number, so that no /etc/passwd entry is needed.
USER 65532:65532
ENV PORT=8080 \
    RUST_LOG=info
EXPOSE 8080
CMD ["grader", "serve"]
