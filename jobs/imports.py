"""The contact import job; the parsing, checks and set-based writes are models.imports.

A file of more rows than KOHDE_CHUNK_ROWS is split into line ranges
(models.imports_split) that any number of workers import side by side: each range is a
chunk run of its own (jobs.split), retried like any run if its worker dies, and
repeating one is harmless (contacts are matched on their email).
"""

from __future__ import annotations

from pathlib import Path

from models import WORKER_LOST, JobRun, JobStatus, db
from models.imports import COLUMNS, data_dir, run_import
from models.imports_split import (
    import_range,
    merge_reports,
    part_path,
    plan_split,
    write_report_header,
)

from .pause import pause_at
from .runs import JobContext, enqueue, job
from .split import chunk_rows, fan_out, finisher, on_failure, summed

COUNTS = ("imported", "updated", "rejected", "companies_created", "rows", "kept_existing")


def _duplicates_path(report_path: Path) -> Path:
    return report_path.with_name(f"{report_path.name}.repeated.json")


@job("import_contacts")
def import_contacts(ctx: JobContext, path: str, filename: str | None = None,
                    update_existing: bool = True) -> dict:
    """The import job: ``path`` is a CSV file the web or the CLI has put in place;
    ``update_existing`` off leaves contacts already there as they are (a user's import)."""
    ctx.result = {"file": filename or Path(path).name}
    report_path = data_dir("reports") / f"import-{ctx.run_id}.csv"
    split = plan_split(Path(path), chunk_rows(), _duplicates_path(report_path))
    if split is None:
        result = run_import(Path(path), ctx.progress, update_existing=update_existing)
        return {"file": ctx.result["file"], **result}
    write_report_header(report_path, split.header)
    ignored = [h for h in split.header if h not in COLUMNS]
    result = {"file": ctx.result["file"], "report_path": str(report_path)}
    if ignored:
        result["ignored_columns"] = ignored
    fan_out(ctx, "import_chunk", split.ranges, total=split.rows, result=result)
    return result


@job("import_chunk")
def import_chunk(ctx: JobContext, parent_id: str, seq: int, first_line: int, end_line: int,
                 offset: int) -> dict:
    """One line range of a split import (lines ``first_line`` … ``end_line - 1``)."""
    parent = db.session.get(JobRun, parent_id)
    params = parent.params
    report_path = Path(parent.result["report_path"])

    def progress(done: int, total: int) -> None:
        pause_at("import_chunk.before_commit")  # crash tests: rows written, not committed
        ctx.progress(done, total)

    return import_range(Path(params["path"]), first_line, end_line, offset,
                        _duplicates_path(report_path), part_path(report_path, seq),
                        params.get("update_existing", True), progress)


@finisher("import_contacts")
def finish_import(result: dict, chunks: list[dict]) -> dict:
    """A split import's counts are its ranges' added up; their reports become one."""
    report_path = Path(result["report_path"])
    merge_reports(report_path, len(chunks))
    _duplicates_path(report_path).unlink(missing_ok=True)
    keys = COUNTS if any("kept_existing" in c for c in chunks) else COUNTS[:-1]
    return summed(result, chunks, keys)


@on_failure("import_contacts")
def keep_failed_import_report(result: dict, chunks: list[dict]) -> dict:
    """A failed split import still reports, by line, the rows its ranges rejected: the
    ranges' parts are merged as on success and removed with the repeated emails. The
    ranges that failed are named (``unfinished_lines``): some of their rows may be in,
    others not, and importing the file again completes them. A part whose writer was
    killed (a lost worker) may end mid-row, so it is left out."""
    report_path = Path(result["report_path"])
    failed = [c for c in chunks if c["status"] == JobStatus.FAILED]
    lost = [c["seq"] for c in failed if (c["error"] or "").startswith(WORKER_LOST)]
    merge_reports(report_path, len(chunks), left_out=lost)
    _duplicates_path(report_path).unlink(missing_ok=True)
    unfinished = [f"{c['params']['first_line']}–{c['params']['end_line'] - 1}" for c in failed]
    return {**result, "unfinished_lines": unfinished}


def start_import_contacts(path: str | Path, filename: str | None = None,
                          started_by: int | None = None, update_existing: bool = True) -> JobRun:
    """Queue the import of a stored CSV file of contacts."""
    params = {"path": str(path), "filename": filename}
    if not update_existing:  # only then: the same request as before keeps its dedupe key
        params["update_existing"] = False
    return enqueue("import_contacts", params, user_id=started_by)
