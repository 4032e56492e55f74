# A static drover on an empty image, non-root by default. Build it and copy
# drover into your own image (see examples/node, examples/python, examples/go):
#   podman build --build-arg VERSION=$(git describe --always --dirty) -t drover .
#   COPY --from=drover /usr/local/bin/drover /usr/local/bin/drover
#   ENTRYPOINT ["/usr/local/bin/drover"]
#
# Or take a release (README.md, "Install"; release/build makes one): the
# binary, checked against the release's SHA256SUMS,
#   ARG DROVER_VERSION=0.1.0
#   ARG TARGETARCH
#   ADD https://github.com/drover-init/drover/releases/download/v${DROVER_VERSION}/drover-linux-${TARGETARCH} \
#       https://github.com/drover-init/drover/releases/download/v${DROVER_VERSION}/SHA256SUMS /tmp/drover/
#   RUN cd /tmp/drover && sha256sum --check --ignore-missing SHA256SUMS \
#    && install -m 755 drover-linux-${TARGETARCH} /usr/local/bin/drover && rm -r /tmp/drover
# the package (dpkg -i drover_0.1.0-1_amd64.deb, or the .rpm or .apk), or
# the release image, which holds /drover alone:
#   COPY --from=ghcr.io/drover-init/drover:0.1.0 /drover /usr/local/bin/drover
#
# GO_IMAGE names the toolchain image, e.g. a mirror of golang:1.26.
ARG GO_IMAGE=golang:1.26
FROM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /drover .

FROM scratch
COPY --from=build /drover /usr/local/bin/drover
USER 65534:65534
ENTRYPOINT ["/usr/local/bin/drover"]
