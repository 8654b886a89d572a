# syntax=docker/dockerfile:1
# acmegate container image: the static binary on distroless, as nonroot.
#
#   docker build -t acmegate \
#     --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     --build-arg COMMIT="$(git rev-parse HEAD)" \
#     --build-arg DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#   docker run -p 14000:14000 -v acmegate-data:/var/lib/acmegate \
#     -v "$PWD/config.yaml:/etc/acmegate/config.yaml:ro" acmegate
#
# The build flags are the Makefile's release flags; cmd/acmegate/deploy_test.go
# checks they agree (no test builds the image: CI has no container engine).

# The build stage runs on the builder's platform and cross-compiles, so a
# multi-platform build (docker buildx --platform linux/amd64,linux/arm64)
# needs no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" -o /out/acmegate ./cmd/acmegate
# The volume's mount point, owned by nonroot (65532) so that a new named
# volume, which copies it, is writable.
RUN mkdir -p /out/data

# static-debian12 holds CA certificates, tzdata and a passwd entry for
# nonroot, and nothing else: no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/acmegate /acmegate
COPY --from=build --chown=65532:65532 /out/data /var/lib/acmegate
COPY deploy/config.example.yaml /etc/acmegate/config.yaml
USER nonroot:nonroot
VOLUME /var/lib/acmegate
# 14000: ACME over HTTPS. 14001: the admin API and dashboard, which listen
# on loopback unless the configuration sets admin.listen: 0.0.0.0:14001.
EXPOSE 14000 14001
ENTRYPOINT ["/acmegate"]
CMD ["serve", "--config", "/etc/acmegate/config.yaml"]
