#!/bin/bash
# Ignores SIGTERM (as many real scripts do by accident) and runs until released; every copy
# that starts appends its pid, so a test can count copies running at once.
trap '' TERM
echo $$ >> "$marker_dir/stubborn.pids"
while [ ! -e "$marker_dir/release" ]; do sleep 0.05; done
