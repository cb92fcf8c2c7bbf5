#!/bin/bash
# Output with no newline at all.
head -c "$noise_bytes" /dev/zero | tr '\0' 'x'
