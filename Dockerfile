# syntax=docker/dockerfile:1

# Image with both binaries: `gateway` (the backend, default entrypoint) and
# `simworker` (the simulated WhatsApp worker used by docker-compose and demos).
#
#   docker build \
#     --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) \
#     -t wagateway/gateway .

# ---- build -------------------------------------------------------------------
# The builder runs on the build host's platform and cross-compiles for the target
# (pure Go, CGO off), so multi-arch builds need no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build

WORKDIR /src

# Modules first: this layer is reused until go.mod/go.sum change.
# go.sum* tolerates a module without dependencies (no go.sum yet).
COPY go.mod go.sum* ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY . .

ARG TARGETOS TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown

# ./cmd/... builds every command (gateway, simworker, worker, demo, bench) into /out, as
# `make build` does.
# -trimpath: no build-machine paths in the binary (reproducible, no leaks).
# -s -w: drop symbol table and DWARF; panics still have full stack traces.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath \
      -ldflags "-s -w \
        -X 'github.com/wagateway/gateway/internal/buildinfo.Version=${VERSION}' \
        -X 'github.com/wagateway/gateway/internal/buildinfo.Commit=${COMMIT}' \
        -X 'github.com/wagateway/gateway/internal/buildinfo.Date=${DATE}'" \
      -o /out/ ./cmd/...

# ---- runtime -----------------------------------------------------------------
# distroless/static: CA certificates, tzdata and /etc/passwd, no shell or package
# manager. The :nonroot variant runs as UID/GID 65532.
FROM gcr.io/distroless/static-debian12:nonroot

COPY --from=build /out/ /usr/local/bin/

# Numeric, not "nonroot": Kubernetes can only verify runAsNonRoot against a UID.
USER 65532:65532

ENV PORT=8000
EXPOSE 8000

# There is no curl or wget in distroless, so the binary checks itself:
# `gateway healthcheck` GETs http://127.0.0.1:$PORT/health and exits 0 or 1.
# Liveness only (/health has no dependencies); readiness is the orchestrator's job.
# It also works for simworker containers, which serve /health on their own PORT.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/gateway", "healthcheck"]

# Migrations are applied by `serve` at start (AUTO_MIGRATE=false to opt out).
ENTRYPOINT ["/usr/local/bin/gateway"]
CMD ["serve"]
