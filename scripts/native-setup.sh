#!/usr/bin/env bash
# Builds the optional librdkafka client in an existing checkout (after a plain `npm ci`, which skips
# or fails that build without the settings below), then checks that it loads.
#
# Why the settings: @confluentinc/kafka-javascript first tries to download a prebuilt binary (no
# internet here: it fails fast), then builds librdkafka from the source inside the package. Its
# default build links OpenSSL, zstd and friends statically by DOWNLOADING their sources;
# CKJS_LINKING=dynamic makes it link the system -dev packages instead.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/native-deps.sh
CKJS_LINKING=dynamic npm rebuild @confluentinc/kafka-javascript --foreground-scripts=false
node -e "const k = require('@confluentinc/kafka-javascript'); console.log('librdkafka ' + k.librdkafkaVersion + ' ready (' + k.features.join(', ') + ')')"
