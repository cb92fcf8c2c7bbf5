#!/bin/bash
set -e
ctx logger info "linking web app to database at ${db_address}"
ctx source instance runtime-properties linked_db "${db_address}"
