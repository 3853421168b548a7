FROM node:20-slim
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY config ./config
COPY src ./src
COPY streams ./streams
COPY projections ./projections
COPY replay ./replay
COPY scripts ./scripts
RUN npm ci && npm prune --omit=dev
# The data dir (the notary's signing key) is a volume in docker-compose.yml; the node user owns it.
RUN mkdir -p /app/.data && chown node:node /app/.data
ENV NODE_ENV=production
# Node sizes V8's young generation from the container's memory limit: under 3 GiB it is smaller
# than the 32 MB the router is tuned with, and at 512 MiB (2 MB) the router used 1.4x the CPU per
# request under load. This keeps V8's full size whatever the limit (docs/operations.md, "Router memory").
ENV NODE_OPTIONS=--max-semi-space-size=16
EXPOSE 8080 9464
USER node
CMD ["node", "bin/beamline.js", "start"]
