"""Keys of what the aiohttp application holds, shared by every route module."""

from aiohttp import web

from knowledge.storage import Store

STORE: web.AppKey[Store] = web.AppKey("store", Store)
