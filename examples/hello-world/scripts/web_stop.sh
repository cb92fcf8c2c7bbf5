#!/bin/bash
ctx logger info "stopping web app"
ctx instance runtime-properties listening ""
