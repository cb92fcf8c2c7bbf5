#!/bin/bash
set -e
ctx logger info "creating with ${greeting}"
ctx instance runtime-properties message "${greeting} from create"
