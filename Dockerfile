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
EXPOSE 8080 9464
USER node
CMD ["node", "bin/beamline.js", "start"]
