"""The one "manager" and "broker" of a cfy-local state dir: this machine, as Cloudify's local
engine reports them. A leaf module: the operation ctx and the REST client both read it."""
from __future__ import annotations

MANAGER_VERSION = "7.0.5"


class Item(dict):
    """A manager or broker record: keys read as attributes too (``m.private_ip``)."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            return None


def local_managers() -> list[Item]:
    return [Item(id=0, hostname="localhost", private_ip="127.0.0.1", public_ip="127.0.0.1",
                 networks={"default": "127.0.0.1"}, version=MANAGER_VERSION, edition="community",
                 distribution="cfy-local", distro_release="local", ca_cert_content="")]


def local_brokers() -> list[Item]:
    return [Item(name="localhost", host="127.0.0.1", port=5671, networks={"default": "127.0.0.1"},
                 management_host="127.0.0.1", ca_cert_content="")]
