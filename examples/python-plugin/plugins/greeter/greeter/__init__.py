"""Example cfy-local plugin written against Cloudify's plugin API."""
