#!/bin/bash
set -e
while [ -e "${marker_dir}/hold" ]; do sleep 0.05; done
if [ -e "${marker_dir}/fail" ]; then
  ctx logger error "configure told to fail"
  # Not retried: a failure the test can wait for at once.
  ctx abort-operation "configure told to fail"
  exit 0
fi
ctx logger info "configured"
