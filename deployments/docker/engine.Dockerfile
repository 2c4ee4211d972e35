# syntax=docker/dockerfile:1.7
# The BPMN engine: deployments/camunda built with Maven, run on a JRE with our processes baked in, so the image
# and the processes it auto-deploys always come from the same commit.
#
#   docker build -f deployments/docker/engine.Dockerfile -t kep-engine:0.1.0 .   (from the repository root)

FROM maven:3.9-eclipse-temurin-17 AS build
WORKDIR /src
COPY deployments/camunda/pom.xml ./
COPY deployments/camunda/src/ src/
RUN --mount=type=cache,target=/root/.m2 mvn -B -ntp -DskipTests package

FROM eclipse-temurin:17-jre
RUN useradd --system --uid 10001 --home-dir /opt/kep --shell /usr/sbin/nologin kep
WORKDIR /opt/kep
COPY --from=build /src/target/kep-engine.jar kep-engine.jar
COPY bpmn_bridge/processes/ processes/

# application.yaml binds to 127.0.0.1 for the local stack; in a pod the Service must reach it
# (SERVER_ADDRESS overrides server.address). The REST API has no authentication: NetworkPolicy guards it.
ENV KEP_ENGINE_PORT=8080 \
    KEP_BPMN_DIR=/opt/kep/processes \
    SERVER_ADDRESS=0.0.0.0
# KEP_ENGINE_DB_URL, KEP_ENGINE_DB_USER and KEP_ENGINE_DB_PASSWORD come from the pod; there is no useful default.

USER 10001
EXPOSE 8080
# Heap capped as on one machine (RSS ~340 MiB); the pod's memory limit leaves room for metaspace and threads.
# Unlike the local run, no -XX:TieredStopAtLevel=1: a long-lived engine wants the C2 compiler.
# A JVM out of memory exits, so Kubernetes restarts it instead of leaving a half-dead engine.
ENTRYPOINT ["java", "-Xmx384m", "-Xss512k", "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError", "-jar", "kep-engine.jar"]
