"""Importing members and opening balances from an old system (`jifen import`, importMembers)."""

from app.importer.forget import forget_uploads
from app.importer.rows import RowError
from app.importer.run import ImportRunning, Summary, import_files
from app.importer.uploads import (
    MAX_FILE_BYTES,
    ImportJob,
    ImportJobStatus,
    InvalidUpload,
    UploadConflict,
    UploadedFile,
    check_upload,
    get_import_job,
    list_import_jobs,
    run_due_import,
    start_import,
)

__all__ = [
    "ImportJobStatus",
    "ImportRunning",
    "RowError",
    "Summary",
    "forget_uploads",
    "import_files",
    "ImportJob",
    "InvalidUpload",
    "MAX_FILE_BYTES",
    "UploadConflict",
    "UploadedFile",
    "check_upload",
    "get_import_job",
    "list_import_jobs",
    "run_due_import",
    "start_import",
]
