"""The worker: scheduled jobs, each run under a lease in MongoDB."""
