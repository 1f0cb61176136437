#!/usr/bin/env bash
# Builds the optional librdkafka client in an existing checkout, after a plain `npm install` (which
# fails that build without the settings below and then leaves the optional package out), and checks
# that it loads.
#
# Why the settings: @confluentinc/kafka-javascript first tries to download a prebuilt binary (no
# internet here: it fails fast), then builds librdkafka from the source inside the package. Its
# default build links OpenSSL, zstd and friends statically by DOWNLOADING their sources;
# CKJS_LINKING=dynamic makes it link the system -dev packages instead.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/native-deps.sh
if [ -f node_modules/@confluentinc/kafka-javascript/package.json ]; then
  CKJS_LINKING=dynamic npm rebuild @confluentinc/kafka-javascript --foreground-scripts=false
else
  # npm dropped the package when its first build failed: install it again (the lockfile's version).
  CKJS_LINKING=dynamic npm install --no-audit --no-fund --no-save
fi
node -e "const k = require('@confluentinc/kafka-javascript'); console.log('librdkafka ' + k.librdkafkaVersion + ' ready (' + k.features.join(', ') + ')')"
