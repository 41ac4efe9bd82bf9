"""Jobs that turn results into documents (segnet.jobs.report: the self-contained evaluation report)."""
