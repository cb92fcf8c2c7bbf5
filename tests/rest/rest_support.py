"""Helpers of the REST tests (import as ``from rest_support import ...``)."""
from __future__ import annotations

import io
import json
import tarfile


def multipart(members: dict[str, bytes], *, links: dict[str, str] | None = None, top="blueprint") -> tuple[bytes, str]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name if name.startswith(("/", "..")) else f"{top}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.type = tarfile.SYMTYPE
            info.linkname = target
            archive.addfile(info)
    boundary = "b0undary"
    params = json.dumps({"visibility": "tenant", "async_upload": True, "application_file_name": "blueprint.yaml"})
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"params\"\r\n\r\n{params}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"blueprint_archive\"; filename=\"filename\"\r\n"
            f"Content-Type: text/plain\r\n\r\n").encode() + buf.getvalue() + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"
