"""The Starlette web app: JSON API, live push and web UI."""
