#!/bin/bash
# Publishes this operation's proxy address and token for the test (playing an attacker),
# then, if asked to hold, keeps the operation running until released.
set -e
ctx instance id > "$marker_dir/$name.id"
printf '%s' "$CTX_SOCKET_URL" > "$marker_dir/$name.url.tmp" && mv "$marker_dir/$name.url.tmp" "$marker_dir/$name.url"
printf '%s' "$CFY_LOCAL_CTX_TOKEN" > "$marker_dir/$name.token.tmp" && mv "$marker_dir/$name.token.tmp" "$marker_dir/$name.token"
if [ "$hold" = "true" ]; then
  for _ in $(seq 1 3000); do
    [ -e "$marker_dir/release" ] && exit 0
    sleep 0.02
  done
  echo "never released" >&2
  exit 1
fi
