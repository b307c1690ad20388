"""Map the top-level folders (hal/, firmware/, drivers/, boards/, tools/) to ``sumame.<folder>``.

All metadata lives in pyproject.toml; this file only discovers the packages so that a new
sub-package (a folder with ``__init__.py``) is picked up without editing a list.
"""
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent
TOP_LEVEL = ("hal", "firmware", "drivers", "boards", "tools")

packages, package_dir = [], {}
for top in TOP_LEVEL:
    for init in sorted((ROOT / top).rglob("__init__.py")):
        rel = init.parent.relative_to(ROOT)
        name = "sumame." + ".".join(rel.parts)
        packages.append(name)
        package_dir[name] = rel.as_posix()

setup(packages=packages, package_dir=package_dir)
