"""The worker: scheduled jobs, each run under a lease in MongoDB."""

from app.jobs.schedule import default_jobs, expire, mature, release_holds, tiers, warn
from app.jobs.worker import Job, JobOutcome, Worker, worker_id

__all__ = [
    "Job",
    "JobOutcome",
    "Worker",
    "default_jobs",
    "expire",
    "mature",
    "release_holds",
    "tiers",
    "warn",
    "worker_id",
]
