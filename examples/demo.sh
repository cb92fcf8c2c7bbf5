#!/usr/bin/env bash
# `make demo`: a real run end to end — blueprint → deployment → install → events → uninstall —
# always in a fresh temporary state directory (never $CFY_LOCAL_HOME or ~/.cfy-local), with
# the cfy installed in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
CFY=".venv/bin/cfy"
CFY_LOCAL_HOME="$(mktemp -d "${TMPDIR:-/tmp}/cfy-local-demo.XXXXXX")/home"
export CFY_LOCAL_HOME
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m'; plain=$'\033[0m'; else bold=""; plain=""; fi
step() { printf '\n%s$ cfy %s%s\n' "$bold" "$*" "$plain"; "$CFY" "$@"; }

echo "State directory (temporary, for this demo only): $CFY_LOCAL_HOME"
step blueprints upload examples/hello-world/blueprint.yaml -b hello-world
step deployments create hello -b hello-world -i 'greeting=Hi;port=9090'
step executions start install -d hello
step deployments outputs hello
step node-instances list -d hello
execution_id=$("$CFY" executions list -d hello --last 1 --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
step events list "$execution_id" --no-logs
step executions list
step executions start uninstall -d hello
step status
echo
echo "Done. The demo's state is in $CFY_LOCAL_HOME (delete it when you are done)."
echo "Explore it yourself with: CFY_LOCAL_HOME=$CFY_LOCAL_HOME $CFY tui"
