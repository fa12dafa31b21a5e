"""The web extra's internals; `agentsched.asgi.create_app` is its one public name.

Pure modules (`describe`, `bodies`, `pages`, `openapi`) need nothing but
agentsched; `api` and `dashboard` are the Starlette routes over them.
"""
