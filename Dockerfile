FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY core ./core
COPY connectors ./connectors
COPY processors ./processors
COPY sinks ./sinks
COPY schemas ./schemas
COPY control ./control
COPY cli ./cli
COPY app ./app
COPY sdk ./sdk
COPY infra ./infra
RUN npm ci --no-audit --no-fund && npm prune --omit=dev
EXPOSE 8080 50051
CMD ["node", "bin/changeflow.js", "run", "--config", "/config/changeflow.yaml"]
