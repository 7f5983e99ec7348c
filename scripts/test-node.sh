#!/usr/bin/env bash
# Runs the README's test command (`npm test`) on one Node major, fetched into the cache by
# scripts/node-version.sh:   npm run test:node -- 24 [vitest args…]
# `system` runs it on the machine's own node. The installed node_modules serve every version
# (koffi, the one native module, is a Node-API build: one binary for every Node ABI).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/node-version.sh
major="${1:?usage: npm run test:node -- <major|system> [vitest args…]}"
shift
bin="$(node_bin_dir "$major")"
export PATH="$bin:$PATH"
echo "== Node $(node --version) ($bin/node)"
start=$SECONDS
status=0
npm test -- "$@" || status=$?
echo "== Node $(node --version): $([[ $status == 0 ]] && echo passed || echo "FAILED ($status)") in $((SECONDS - start)) s"
exit $status
