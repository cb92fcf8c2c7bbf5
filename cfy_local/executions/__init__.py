"""The execution lifecycle: statuses and transitions, admission and the queue, workers,
cancel/resume, event reading. Core package: no click, no textual."""
