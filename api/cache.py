"""Responses of the gap and funding views, cached per store version (the materialised tables change only when
``match`` or a review rebuilds them, and each rebuild bumps ``store_version``)."""
from __future__ import annotations

from collections import OrderedDict
from threading import Lock
from typing import Callable

from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response

from matcher.coverage import store_version

try:
    import orjson

    def _dumps(value) -> bytes:
        return orjson.dumps(value)
except ImportError:  # pragma: no cover
    import json

    def _dumps(value) -> bytes:
        return json.dumps(value).encode()

_CACHE: "OrderedDict[tuple, bytes]" = OrderedDict()
_LOCK = Lock()
MAX_ENTRIES = 1024


def cached_json(session, key: tuple, build: Callable[[], object]) -> Response:
    """JSON of ``build()``, reused while the store version and ``key`` are the same."""
    full_key = (store_version(session), session.get_bind().url.render_as_string(hide_password=False), *key)
    with _LOCK:
        body = _CACHE.get(full_key)
        if body is not None:
            _CACHE.move_to_end(full_key)
    if body is None:
        body = _dumps(jsonable_encoder(build()))
        with _LOCK:
            _CACHE[full_key] = body
            while len(_CACHE) > MAX_ENTRIES:
                _CACHE.popitem(last=False)
    return Response(body, media_type="application/json")
