"""A test plugin built on cloudify-utilities-plugins-sdk, as most of Cloudify's plugins are."""
from cloudify import ctx
from cloudify.decorators import operation
from cloudify_common_sdk.filters import obfuscate_passwords
from cloudify_common_sdk.utils import (get_client_config, get_cloudify_version, get_ctx_instance, get_secret,
                                       v1_gteq_v2, with_rest_client)


@operation
@with_rest_client
def create(rest_client, **kwargs):
    instance = get_ctx_instance()
    props = instance.runtime_properties
    props['secret'] = get_secret(secret_name='api_key', rest_client=rest_client)
    version = get_cloudify_version()
    props['version_ok'] = v1_gteq_v2(version, '6.0.0')
    props['config'] = get_client_config(ctx_node=ctx.node, ctx_instance=instance)
    props['hidden'] = obfuscate_passwords({'user': 'u', 'password': 'p4ss'})


@operation
def link(**kwargs):
    source = get_ctx_instance(source=True)
    target = get_ctx_instance(target=True)
    source.runtime_properties['target_id'] = target.id


def report(ctx, **kwargs):
    """A workflow: it runs in the worker, with this plugin's packages (the sdk) importable."""
    from cloudify.manager import get_rest_client
    from cloudify_common_sdk.filters import obfuscate_passwords as obfuscate
    from cloudify_common_sdk.utils import get_secret as sdk_secret

    secret = sdk_secret(secret_name='api_key', rest_client=get_rest_client())
    ctx.logger.info('report %s', obfuscate({'password': secret, 'nodes': sorted(n.id for n in ctx.nodes)}))
