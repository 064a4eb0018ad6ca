"""Run tracking: a GPO run mirrored into MLflow (``--mlflow_tracking_uri``), never required for
the run itself (tracking problems are warnings, the run folder is the record)."""
