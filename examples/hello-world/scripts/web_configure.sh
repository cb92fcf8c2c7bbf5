#!/bin/bash
set -e
ctx logger info "configuring web app: ${greeting}, database at ${db_url}"
ctx instance runtime-properties message "${greeting}, world"
ctx instance runtime-properties db_url "${db_url}"
