#!/bin/bash
# Asks the ctx proxy for files outside the blueprint folder; each must be refused.
for path in ../blueprint.json ../plan.json scripts/../../blueprint.json ../../../../../../etc/hostname /etc/hostname; do
  if ctx download-resource "$path" "$marker_dir/leak" 2>>"$marker_dir/refusals"; then
    printf '%s\n' "$path" >> "$marker_dir/leaked"
  fi
done
ctx download-resource scripts/echo_payload.py "$marker_dir/inside" >/dev/null
