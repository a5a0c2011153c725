"""The worker: scheduled jobs, each run under a lease in MongoDB."""

from app.worker.loop import Job, JobOutcome, Worker, worker_id
from app.worker.schedule import (
    default_jobs,
    expire,
    mature,
    messages_job,
    referrals,
    release_holds,
    tiers,
    unpaid_redemptions,
    warn,
    webhook_client_for,
    webhook_policy,
    webhooks_job,
)

__all__ = [
    "Job",
    "JobOutcome",
    "Worker",
    "default_jobs",
    "expire",
    "mature",
    "messages_job",
    "referrals",
    "release_holds",
    "tiers",
    "unpaid_redemptions",
    "warn",
    "webhook_policy",
    "webhook_client_for",
    "webhooks_job",
    "worker_id",
]
