# A static drover on an empty image, non-root by default. Build it and copy
# drover into your own image (see examples/node, examples/python, examples/go):
#   podman build --build-arg VERSION=$(git describe --always --dirty) -t drover .
#   COPY --from=drover /usr/local/bin/drover /usr/local/bin/drover
#   ENTRYPOINT ["/usr/local/bin/drover"]
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
