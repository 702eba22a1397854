"""Build hook: ship the fact template inside the package.

The repository keeps the template at the top level, ``templates/fact.md`` (one copy for the
repository, the docs and every vault ``stigmem init`` makes). A wheel carries packages only, so
the build copies it to ``stigmem_vault/templates/fact.md`` in the wheel, where
``stigmem_vault.vault.obsidian`` finds it as package data. Everything else is in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

TEMPLATE = Path("templates", "fact.md")
PACKAGED = Path("stigmem_vault", "templates", "fact.md")


class BuildPyWithTemplate(build_py):
    """build_py, plus the top-level fact template copied into the built package."""

    def run(self) -> None:
        super().run()
        if not self.editable_mode:  # an editable install reads the repository's own copy
            target = Path(self.build_lib, PACKAGED)
            self.mkpath(str(target.parent))
            self.copy_file(str(TEMPLATE), str(target))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs: list[str] = super().get_outputs(include_bytecode)
        if not self.editable_mode:
            outputs.append(str(Path(self.build_lib, PACKAGED)))
        return outputs


setup(cmdclass={"build_py": BuildPyWithTemplate})
