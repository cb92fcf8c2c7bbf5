#!/usr/bin/env bash
# `make demo`: a real run end to end — blueprint → deployment → install → events → uninstall —
# in a throw-away state directory, with the cfy installed in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
CFY=".venv/bin/cfy"
export CFY_LOCAL_HOME="${CFY_LOCAL_HOME:-$(mktemp -d)/cfy-home}"
step() { printf '\n\033[1m$ cfy %s\033[0m\n' "$*"; "$CFY" "$@"; }

echo "State directory: $CFY_LOCAL_HOME"
step blueprints upload examples/hello-world/blueprint.yaml -b hello-world
step deployments create hello -b hello-world -i 'greeting=Hi;port=9090'
step executions start install -d hello
step deployments outputs hello
step node-instances list -d hello
execution_id=$("$CFY" executions list -d hello --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
step events list "$execution_id" --no-logs
step executions list
step executions start uninstall -d hello
step status
echo
echo "Done. Explore it yourself with: CFY_LOCAL_HOME=$CFY_LOCAL_HOME $CFY tui"
