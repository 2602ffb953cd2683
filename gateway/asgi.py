"""The ASGI entry point granian serves: `gateway.asgi:app`."""

from gateway.app import create_app

app = create_app()
