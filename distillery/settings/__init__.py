"""The one place configuration is read: environment variables prefixed DISTILLERY_, one
settings class per role, each ignoring the others' variables.

- `Settings` (server.py), through `get_settings()`: the API, the workers and the CLI's
  server commands.
- `DemoSettings` (demo.py): the real teacher `distillery demo` may use instead of the
  simulator.
- `ClientSettings` (client.py): which server and key the Python client and the CLI's
  client commands use; reading them creates nothing on disk.
"""

from distillery.settings.client import ClientSettings
from distillery.settings.demo import DemoSettings
from distillery.settings.server import Settings, get_settings

__all__ = ["ClientSettings", "DemoSettings", "Settings", "get_settings"]
