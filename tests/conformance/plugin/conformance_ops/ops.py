"""Operations of the conformance test plugin (see the package docstring)."""
from cloudify import ctx
from cloudify.exceptions import NonRecoverableError, OperationRetry, RecoverableError


def _subject(side):
    """The instance an operation records on: its own, or one end of its relationship."""
    if ctx.type == "relationship-instance":
        return ctx.source.instance if side != "target" else ctx.target.instance
    return ctx.instance


def _label(side):
    name = ctx.operation.name.rsplit(".", 1)[-1]
    if ctx.type == "relationship-instance":
        other = ctx.target.node.id if side != "target" else ctx.source.node.id
        return "{0}:{1}:{2}".format(name, side or "source", other)
    return name


def _append(instance, key, value):
    items = list(instance.runtime_properties.get(key) or [])
    items.append(value)
    instance.runtime_properties[key] = items


def record(side=None, set_props=None, fail=None, fail_times=0, retry_times=0, retry_after=None,
           use_ctx_retry=False, store=None, **_):
    """Record this call, then do what the inputs ask.

    ``fail``: ``nonrecoverable`` / ``recoverable`` (always) — the message carries a marker
    ``ERR:<operation>`` both engines' errors must contain. ``fail_times``: fail recoverably
    until the operation's retry number reaches it. ``retry_times``: ask for a retry (an
    OperationRetry, or ``ctx.operation.retry`` when ``use_ctx_retry``) that many times.
    ``store``: a dict of runtime properties to set to the given input values (attributes and
    capabilities arrive evaluated as inputs)."""
    subject = _subject(side)
    label = _label(side)
    _append(subject, "trace", label)
    for key, value in (set_props or {}).items():
        subject.runtime_properties[key] = value
    for key, value in (store or {}).items():
        subject.runtime_properties[key] = value
    retry_number = ctx.operation.retry_number
    if fail == "nonrecoverable":
        raise NonRecoverableError("ERR:{0} failed for good".format(label))
    if fail == "recoverable":
        raise RecoverableError("ERR:{0} failed, may be retried".format(label))
    if retry_number < int(fail_times):
        raise RecoverableError("ERR:{0} attempt {1} failed".format(label, retry_number))
    if retry_number < int(retry_times):
        if use_ctx_retry:
            return ctx.operation.retry("ERR:{0} not ready".format(label), retry_after=retry_after)
        raise OperationRetry("ERR:{0} not ready".format(label), retry_after=retry_after)
    subject.runtime_properties["retries_seen"] = retry_number


def record_capabilities(**_):
    """Store what ``ctx.capabilities`` shows of the relationship targets."""
    _append(ctx.instance, "trace", _label(None))
    caps = ctx.capabilities.get_all()
    # Keyed by target instance id, which differs between engines: keep the values, sorted.
    ctx.instance.runtime_properties["capabilities"] = sorted(
        (dict(values) for values in caps.values()), key=lambda values: sorted(values.get("trace") or []))
    keys = sorted({key for values in caps.values() for key in values})
    ctx.instance.runtime_properties["capability_items"] = {key: ctx.capabilities[key] for key in keys}


def read_resource(path, **_):
    """Read a blueprint resource both ways (get and download) and store its text."""
    _append(ctx.instance, "trace", _label(None))
    text = ctx.get_resource(path)
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    downloaded = ctx.download_resource(path)
    with open(downloaded) as handle:
        ctx.instance.runtime_properties["downloaded"] = handle.read()
    ctx.instance.runtime_properties["resource"] = text


def update_with_handler(key, value, **_):
    """``update(on_conflict=...)`` with nothing changed locally: the handler's result is written."""
    _append(ctx.instance, "trace", _label(None))
    ctx.instance.update()

    def handler(local_props, latest_props):
        # Cloudify's contract: called with the locally modified properties and the latest
        # stored ones; what it returns is written.
        merged = dict(latest_props)
        merged[key] = value
        return merged

    ctx.instance.update(on_conflict=handler)


def deployment_facts(**_):
    """Store what the operation ctx says of the deployment (scaling groups, ids)."""
    _append(ctx.instance, "trace", _label(None))
    groups = ctx.deployment.scaling_groups if hasattr(ctx.deployment, "scaling_groups") else None
    ctx.instance.runtime_properties["scaling_groups"] = sorted(groups or {})
