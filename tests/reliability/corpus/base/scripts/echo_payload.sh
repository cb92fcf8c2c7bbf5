#!/bin/bash
# Writes its input exactly as received: a payload such as $(touch x) must arrive as text.
set -e
printf '%s' "$payload" > "$marker_dir/payload.env"
printf '%s' "$1" > "$marker_dir/payload.arg"
ctx instance runtime-properties payload_seen "$payload"
