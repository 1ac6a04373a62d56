# Container image of the Teams call-quality exporter.
#
#   docker build -t teams-exporter:0.1.0 \
#     --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg BRANCH=$(git rev-parse --abbrev-ref HEAD) .
#
# The binary is static (no cgo) and the runtime image holds nothing else but
# CA certificates and time zone data: no shell, no package manager. It runs
# as a non-root user and keeps its state file on a volume. The HEALTHCHECK
# runs the binary's own probe mode, as there is no curl or wget to run.
#
# Both base images are pinned by the digest of their multi-architecture
# index, so that a rebuild of a tag upstream cannot change what ships; a
# new Go release or a security fix of the base means a new digest here
# (docker buildx imagetools inspect golang:1.26.8). The build stage runs on
# the builder's platform and cross-compiles for the target's, so a
# multi-architecture build (docker buildx build --platform
# linux/amd64,linux/arm64) needs no emulation.

# The Go version of go.mod's go line (a test checks that they match).
FROM --platform=$BUILDPLATFORM golang:1.26.8@sha256:6c2a5538f964f1c82f97ad14988bf05de100d922d159d0e398b54c7b0ca0c6c9 AS build
ARG TARGETOS
ARG TARGETARCH
WORKDIR /src
# Dependencies first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
ARG BRANCH=unknown
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
      -ldflags "-s -w \
        -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.Branch=${BRANCH}" \
      -o /out/teams-exporter ./cmd/exporter \
    && mkdir -p /out/state

# distroless/static: CA certificates for HTTPS to Microsoft Graph and Entra ID,
# /etc/passwd with the nonroot user (uid and gid 65532).
FROM gcr.io/distroless/static-debian12:nonroot@sha256:1b7b9f0f0e0a1d2155f531db587cc48ec26aaf97ab64364225f5bf18a054e66a
COPY --from=build /out/teams-exporter /usr/local/bin/teams-exporter
# The state directory must exist and belong to the runtime user before the
# VOLUME line: a new named volume takes its content and owner from here.
COPY --from=build --chown=65532:65532 /out/state /var/lib/teams-exporter
ENV TEAMS_EXPORTER_STATE_FILE=/var/lib/teams-exporter/state.json
# The health listener (/healthz and /readyz only, plain HTTP, no
# authentication) on the container's loopback, for the HEALTHCHECK: the
# main listener answers 401 when the web configuration requires basic auth,
# and TLS when it requires TLS. Kubernetes probes need it on all addresses
# (:9870, as the Helm chart and the kustomization set it).
ENV TEAMS_EXPORTER_HEALTH_LISTEN_ADDRESS=127.0.0.1:9870
VOLUME ["/var/lib/teams-exporter"]
USER 65532:65532
EXPOSE 9868
# "-probe /healthz" asks the listener the environment configures: the health
# listener when TEAMS_EXPORTER_HEALTH_LISTEN_ADDRESS is set, as above, else
# the main one.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/teams-exporter", "-probe", "/healthz"]
ENTRYPOINT ["/usr/local/bin/teams-exporter"]
