"""A test plugin written against the real cloudify-common, using the API real plugins use most."""
import os
import sys

from cloudify import ctx
from cloudify import constants
from cloudify.decorators import operation
from cloudify.exceptions import NonRecoverableError, OperationRetry
from cloudify.manager import get_rest_client
from cloudify.state import ctx_parameters
from cloudify.utils import get_tenant_name
from cloudify_rest_client.exceptions import CloudifyClientError


@operation(resumable=True)
def create(greeting='hello', **kwargs):
    props = ctx.instance.runtime_properties
    props['python'] = sys.executable
    props['cloudify_file'] = __import__('cloudify').__file__
    props['greeting'] = '%s from %s' % (greeting, ctx.node.properties['who'])
    props['type'] = ctx.type == constants.NODE_INSTANCE
    props['tenant'] = get_tenant_name()
    props['param'] = ctx_parameters.get('greeting')
    path = ctx.download_resource('files/data.txt')
    with open(path) as fh:
        props['resource'] = fh.read().strip()
    os.unlink(path)
    props['resource_bytes'] = ctx.get_resource('files/data.txt').decode().strip()
    client = get_rest_client()
    props['secret'] = client.secrets.get('token').value
    props['deployment'] = client.deployments.get(ctx.deployment.id).id
    props['rest_client'] = type(client).__module__ + '.' + type(client).__name__
    props['listed'] = sorted(i.id for i in client.node_instances.list(deployment_id=ctx.deployment.id))
    try:
        client.secrets.get('missing-secret')
    except CloudifyClientError as exc:
        props['missing'] = exc.status_code
    ctx.logger.info('created %s', ctx.instance.id)


@operation
def configure(**kwargs):
    props = ctx.instance.runtime_properties
    if ctx.operation.retry_number < 2:
        return ctx.operation.retry('not yet (%d)' % ctx.operation.retry_number, retry_after=0)
    props['configured_after'] = ctx.operation.retry_number


@operation
def start(**kwargs):
    # another writer changes the instance while this operation holds its own copy
    client = get_rest_client()
    me = client.node_instances.get(ctx.instance.id)
    ctx.instance.runtime_properties['mine'] = 1
    client.node_instances.update(me.id, runtime_properties=dict(me.runtime_properties, theirs=2),
                                 version=me.version)

    def merge(local, fresh):
        merged = dict(fresh)
        merged.update(local)
        merged['merged'] = True
        return merged

    ctx.instance.update(on_conflict=merge)


@operation
def link(**kwargs):
    ctx.source.instance.runtime_properties['linked_to'] = ctx.target.instance.id
    ctx.source.instance.runtime_properties['target_who'] = ctx.target.node.properties['who']
    ctx.target.instance.runtime_properties['linked_from'] = ctx.source.instance.id


@operation
def fail(**kwargs):
    raise NonRecoverableError('plugin says no')


@operation
def retry_error(**kwargs):
    raise OperationRetry('again', retry_after=0)


@operation
def boom(**kwargs):
    raise ValueError('a plain bug')


@operation
def touch(**kwargs):
    ctx.instance.runtime_properties[ctx.operation.name.rsplit('.', 1)[-1]] = ctx.instance.runtime_properties.get(
        'seen', 0) + 1
