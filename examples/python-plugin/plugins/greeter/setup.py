from setuptools import setup

setup(name="cfy-local-greeter", version="1.0", packages=["greeter"])
