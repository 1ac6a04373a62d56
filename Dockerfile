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

# The Go version of go.mod's go line (a test checks that they match).
FROM golang:1.26.8 AS build
WORKDIR /src
# Dependencies first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
ARG BRANCH=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w \
        -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.Branch=${BRANCH}" \
      -o /out/teams-exporter ./cmd/exporter \
    && mkdir -p /out/state

# distroless/static: CA certificates for HTTPS to Microsoft Graph and Entra ID,
# /etc/passwd with the nonroot user (uid and gid 65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/teams-exporter /usr/local/bin/teams-exporter
# The state directory must exist and belong to the runtime user before the
# VOLUME line: a new named volume takes its content and owner from here.
COPY --from=build --chown=65532:65532 /out/state /var/lib/teams-exporter
ENV TEAMS_EXPORTER_STATE_FILE=/var/lib/teams-exporter/state.json
VOLUME ["/var/lib/teams-exporter"]
USER 65532:65532
EXPOSE 9868
# "-probe /healthz" asks the listener the environment configures: the health
# listener when TEAMS_EXPORTER_HEALTH_LISTEN_ADDRESS is set (needed when the
# web configuration requires basic auth or TLS), else the main one.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/teams-exporter", "-probe", "/healthz"]
ENTRYPOINT ["/usr/local/bin/teams-exporter"]
