"""The one "manager" and "broker" of a cfy-local state dir: this machine, as Cloudify's local
engine reports them: the operation ctx and the REST client both read it. Records are REST
resources (keys read as attributes too, ``m.private_ip``)."""
from __future__ import annotations

from cfy_local.engine.rest_api import Resource

MANAGER_VERSION = "7.0.5"


def local_managers() -> list[Resource]:
    return [Resource(id=0, hostname="localhost", private_ip="127.0.0.1", public_ip="127.0.0.1",
                 networks={"default": "127.0.0.1"}, version=MANAGER_VERSION, edition="community",
                 distribution="cfy-local", distro_release="local", ca_cert_content="")]


def local_brokers() -> list[Resource]:
    return [Resource(name="localhost", host="127.0.0.1", port=5671, networks={"default": "127.0.0.1"},
                 management_host="127.0.0.1", ca_cert_content="")]
