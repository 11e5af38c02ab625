"""The contact import job; the parsing, checks and set-based writes are models.imports."""

from __future__ import annotations

from pathlib import Path

from models import JobRun
from models.imports import run_import

from .runs import JobContext, enqueue, job


@job("import_contacts")
def import_contacts(ctx: JobContext, path: str, filename: str | None = None,
                    update_existing: bool = True) -> dict:
    """The import job: ``path`` is a CSV file the web or the CLI has put in place;
    ``update_existing`` off leaves contacts already there as they are (a user's import)."""
    ctx.result = {"file": filename or Path(path).name}
    result = run_import(Path(path), ctx.progress, update_existing=update_existing)
    return {"file": ctx.result["file"], **result}


def start_import_contacts(path: str | Path, filename: str | None = None,
                          started_by: int | None = None, update_existing: bool = True) -> JobRun:
    """Queue the import of a stored CSV file of contacts."""
    params = {"path": str(path), "filename": filename}
    if not update_existing:  # only then: the same request as before keeps its dedupe key
        params["update_existing"] = False
    return enqueue("import_contacts", params, user_id=started_by)
