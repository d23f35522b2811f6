"""The one error type every renderer raises.

Renderers import nothing of the engine, so this module stands alone; the engine translates
:class:`RenderError` into its own tree (``gitops.errors.RenderFailed``) at the boundary.
"""

from __future__ import annotations


class RenderError(Exception):
    """A manifest could not be rendered. ``path`` names the file and ``field`` the field when known."""

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None,
                 line: int | None = None) -> None:
        self.message = message
        self.path = path
        self.field = field
        self.line = line
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.path or ""
        if where and self.line is not None:
            where = f"{where}:{self.line}"
        if self.field:
            where = f"{where} ({self.field})" if where else self.field
        return f"{where}: {self.message}" if where else self.message
