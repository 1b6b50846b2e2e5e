# syntax=docker/dockerfile:1
# Gatehouse: a static binary on a small image that runs as a non-root user.
#   docker build -t gatehouse .
#   docker run -p 8080:8080 gatehouse            (embedded SQLite in /data)

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# Pure Go (the SQLite driver needs no cgo), so the binary runs on any base image.
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/gatehouse ./cmd/gatehouse

FROM alpine:3.21
# ca-certificates: sslmode=verify-full&sslrootcert=system (Neon) needs the system CAs.
RUN apk add --no-cache ca-certificates tzdata \
 && addgroup -S -g 10001 gatehouse \
 && adduser -S -D -H -u 10001 -G gatehouse gatehouse \
 && mkdir /data && chown 10001:10001 /data
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
USER 10001:10001
ENV GATEHOUSE_ADDR=:8080 \
    GATEHOUSE_DATA_DIR=/data
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["gatehouse"]
CMD ["serve"]
