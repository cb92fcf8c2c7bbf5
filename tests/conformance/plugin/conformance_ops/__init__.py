"""A test plugin that both cfy-local and Cloudify's local engine run, unchanged.

Every operation records itself in the runtime property ``trace`` of the instance it runs on
(for relationship operations: the side given by the ``side`` input), so the per-instance order
of operations is part of what the differential test compares. Inputs steer what an operation
does: write properties, fail (recoverably a number of times, or not at all), ask for a retry,
read attributes, capabilities and resources. It uses only the ``cloudify`` API that real plugins
use (``from cloudify import ctx``, ``cloudify.exceptions``, ``cloudify.decorators``).
"""
