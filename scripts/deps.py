"""Prints the project's runtime and dev dependencies from pyproject.toml, for `pip install`."""

import tomllib

with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)["project"]
print(" ".join([*project["dependencies"], *project["optional-dependencies"]["dev"]]))
