# A static drover binary on an empty image. Copy it into your own image:
#   COPY --from=ghcr.io/drover-init/drover /usr/local/bin/drover /usr/local/bin/drover
#   ENTRYPOINT ["/usr/local/bin/drover"]
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o /drover .

FROM scratch
COPY --from=build /drover /usr/local/bin/drover
ENTRYPOINT ["/usr/local/bin/drover"]
