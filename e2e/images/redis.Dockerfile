# Redis as a test fixture for the e2e cluster: one in-memory server, no persistence, no password
# (it is reachable only inside the test cluster). Build from the repository root:
#   docker build -f e2e/images/redis.Dockerfile -t localhost/shardfleet/redis:e2e .
# Locally BASE_IMAGE is a base image holding this machine's Debian redis-server; any image with
# redis-server on PATH works.
ARG BASE_IMAGE=redis:7.0-bookworm

FROM ${BASE_IMAGE}
USER 1000:1000
EXPOSE 6379
# `--dir /tmp`: nothing is saved, but Redis changes into its directory at start.
ENTRYPOINT ["redis-server", "--bind", "0.0.0.0", "--port", "6379", "--protected-mode", "no", "--save", "", "--appendonly", "no", "--dir", "/tmp"]
