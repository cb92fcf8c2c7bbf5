from setuptools import setup

setup(
    name="sdk-test-plugin",
    version="0.2.0",
    packages=["sdk_test_plugin"],
    install_requires=["cloudify-common==7.0.5", "cloudify-utilities-plugins-sdk==0.0.130"],
)
