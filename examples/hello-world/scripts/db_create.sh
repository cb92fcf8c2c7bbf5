#!/bin/bash
set -e
ctx logger info "creating database on host $(ctx instance host-ip 2>/dev/null || echo local)"
ctx instance runtime-properties address "127.0.0.1:5432"
