"""Quality inspection (质检): scoring stored calls against the seeds' rules."""
