"""cfy-local: Cloudify deployment workflows on one workstation, no manager needed."""

__version__ = "0.1.0"
