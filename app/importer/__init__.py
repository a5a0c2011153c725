"""Importing members and opening balances from an old system (`jifen import`, importMembers)."""

from app.importer.forget import forget_uploads
from app.importer.rows import RowError
from app.importer.run import ImportRunning, Summary, import_files

__all__ = ["ImportRunning", "RowError", "Summary", "forget_uploads", "import_files"]
