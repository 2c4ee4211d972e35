# syntax=docker/dockerfile:1.7
# MinIO for the cluster. The community edition is source-only since October 2025 and its images are gone from
# Docker Hub, so we build the server from its Go module, pinned to the same version `./dev` builds locally.
#
#   docker build -f deployments/docker/minio.Dockerfile -t kep-minio:0.1.0 .      (from the repository root)

FROM golang:1.24-bookworm AS build
ARG MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
RUN --mount=type=cache,target=/go/pkg/mod \
    CGO_ENABLED=0 GOFLAGS=-mod=mod go install -trimpath "github.com/minio/minio@${MINIO_VERSION}"

# Static binary: no shell, no package manager, a non-root user (65532) out of the box.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /go/bin/minio /usr/bin/minio
EXPOSE 9000 9001
ENTRYPOINT ["/usr/bin/minio"]
CMD ["server", "/data", "--address", ":9000", "--console-address", ":9001"]
