from setuptools import setup

setup(
    name="cfy-local-test-plugin",
    version="1.3.0",
    packages=["cfy_local_test_plugin"],
    install_requires=["cloudify-common==7.0.5"],
)
