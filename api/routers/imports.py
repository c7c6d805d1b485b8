"""Uploads (admin key): any file the CLI ingests; large files become background jobs."""
from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Optional

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse
from sqlmodel import Session

from matcher import import_file
from matcher.models import ImportJob
from matcher.records import IngestError
from matcher.registry import resolve_reader
from matcher.settings import get_settings
from matcher.sources import Source

from ..deps import Admin, Reader, SessionDep
from ..schemas import Job
from .common import unprocessable

router = APIRouter(prefix="/imports", tags=["imports"])
KINDS = ("upr", "cf", "iati", "donor")


def _spool(upload: UploadFile, limit: int, folder: Path) -> Path:
    """Copy an upload to a private temporary file, refusing it (413) once it passes ``limit`` bytes."""
    name = Path(upload.filename or "upload").name or "upload"
    path = folder / name
    size = 0
    with path.open("wb") as out:
        while chunk := upload.file.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, f"{name}: larger than the upload limit of {limit:,} bytes "
                                         "(UPR_ALIGN_UPLOAD_MAX_BYTES)")
            out.write(chunk)
    return path


def _check_type(path: Path, kind: str, fmt: Optional[str]) -> None:
    """415 for a file no reader of ``kind`` recognises (or one of another family), before anything is written."""
    try:
        resolve_reader(Source.of(path), kind=kind, fmt=fmt)
    except IngestError as exc:
        raise HTTPException(415, str(exc)) from None


def _run_job(engine, job_id: str, path: Path, kind: str, fmt: Optional[str], folder: Path) -> None:
    with Session(engine) as session:
        job = session.get(ImportJob, job_id)
        job.status = "running"
        session.add(job)
        session.commit()
    try:
        summary = import_file(engine, path, kind=kind, fmt=fmt, background=False)
        status, error, data = ("done" if summary.ok else "failed"), summary.error, summary.as_dict()
    except Exception as exc:  # a job must end with a status, whatever happened
        status, error, data = "failed", f"{type(exc).__name__}: {exc}", None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    with Session(engine) as session:
        job = session.get(ImportJob, job_id)
        job.status, job.error, job.summary = status, error, data
        job.finished_at = datetime.now(timezone.utc)
        session.add(job)
        session.commit()


@router.post("", responses={202: {"model": list[Job]}, 413: {}, 415: {}, 422: {}},
             response_model=list[dict[str, Any]])
def create_import(request: Request, session: SessionDep, _: Admin,
                  files: Annotated[list[UploadFile], File(description="One or more files of the same family.")],
                  kind: Annotated[str, Form(pattern="^(upr|cf|iati|donor)$", description="upr | cf | iati | donor")],
                  format: Annotated[Optional[str], Form(max_length=40, description="Force a reader format.")] = None):
    """Ingest uploaded files (admin key): each file in one transaction, exactly as `upr-align ingest KIND`.

    Small files answer 200 with the import summaries; a file larger than UPR_ALIGN_UPLOAD_BACKGROUND_BYTES is
    ingested in the background: 202 with job ids to poll at GET /imports/{job_id}.
    """
    s = get_settings()
    if len(files) > s.upload_max_files:
        raise HTTPException(413, f"at most {s.upload_max_files} files per request (UPR_ALIGN_UPLOAD_MAX_FILES)")
    engine = request.app.state.engine
    results, jobs = [], []
    for upload in files:
        folder = Path(tempfile.mkdtemp(prefix="upr-align-upload-"))
        try:
            path = _spool(upload, s.upload_max_bytes, folder)
            _check_type(path, kind, format)
        except HTTPException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        size = path.stat().st_size
        if size > s.upload_background_bytes:
            job = ImportJob(id=uuid.uuid4().hex, status="queued", kind=kind, file_name=path.name, size_bytes=size,
                            created_at=datetime.now(timezone.utc))
            session.add(job)
            session.commit()
            threading.Thread(target=_run_job, args=(engine, job.id, path, kind, format, folder), daemon=True).start()
            jobs.append(_job(job))
            continue
        try:
            summary = import_file(engine, path, kind=kind, fmt=format, background=False)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if not summary.ok:
            raise unprocessable(summary.error or "the file could not be ingested", ("body", "files"),
                                summary=summary.as_dict(), written_before=[r["file"] for r in results])
        results.append(summary.as_dict())
    if jobs:
        return JSONResponse(status_code=202, content=[*results, *jobs])
    return results


def _job(job: ImportJob) -> dict:
    return {"id": job.id, "status": job.status, "kind": job.kind, "file_name": job.file_name,
            "size_bytes": job.size_bytes, "summary": job.summary, "error": job.error}


@router.get("/{job_id}", response_model=Job)
def import_job(job_id: str, session: SessionDep, _: Reader):
    """Status of a background import; its summary once done."""
    job = session.get(ImportJob, job_id[:64])
    if job is None:
        raise HTTPException(404, f"no import job {job_id}")
    return _job(job)
