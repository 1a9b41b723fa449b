"""``PipelineActivityOperator``: one activity of a cassflow pipeline file, run as an Airflow task.

The task reads the pipeline file when it runs (so ``${env:...}`` references take the worker's
environment and ``${secret:...}`` references are resolved only when a connection opens) and
runs exactly what ``cassflow run`` would run for that activity, through
:class:`~cassflow.pipeline.PipelineRunner` with ``only=[activity]``. Every task of one DAG run
shares one pipeline run id, the same for every try: a retried task resumes its checkpoints
(done slices are skipped, done CQL is not sent again) and the embedded dev servers' data (in
``<state dir>/dev/<connection>``) is what the earlier tasks left there.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from cassflow.airflow._compat import AirflowException, BaseOperator, Context
from cassflow.airflow._hook import default_state_dir
from cassflow.airflow._identity import checkpoint_run_id, identity_from_context
from cassflow.pipeline._loader import load_pipeline
from cassflow.pipeline._run import ActivityOutcome, PipelineRunner

log = logging.getLogger(__name__)

#: The task id that stands for the whole pipeline in its checkpoint run id (one per DAG run).
PIPELINE_TASK = "pipeline"


class PipelineActivityOperator(BaseOperator):
    """Runs the copy or CQL activity ``activity`` of the pipeline file ``pipeline_file``.

    :param pipeline_file: the pipeline (YAML) file; relative paths in it are relative to its
        folder, as for ``cassflow run``.
    :param activity: the name of a copy or cql activity of the file.
    :param state_dir: checkpoints, quarantine, reports and embedded dev servers' data (default:
        ``$CASSFLOW_STATE_DIR``, else ``$AIRFLOW_HOME/cassflow``, read when the task runs).

    The task fails (``AirflowException`` with the activity's message) when the activity fails;
    it returns the activity's outcome (status, seconds, and a copy's report) as its XCom.
    """

    ui_color = "#c6e2ff"

    def __init__(
        self,
        *,
        pipeline_file: str | os.PathLike[str],
        activity: str,
        state_dir: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(activity, str) or not activity:
            raise ValueError(f"activity: expected an activity name, not {activity!r}")
        self.pipeline_file = os.path.abspath(os.fspath(pipeline_file))
        self.activity = activity
        self.state_dir = None if state_dir is None else os.fspath(state_dir)

    def execute(self, context: Context) -> dict[str, Any]:
        """Run the activity; raise ``AirflowException`` when it failed."""
        spec = load_pipeline(self.pipeline_file)
        ti = context["ti"]
        run_id = checkpoint_run_id(ti.dag_id, PIPELINE_TASK, ti.run_id)
        # The DAG's task identity, under the pipeline's own name (the DAG's id may differ).
        identity = dataclasses.replace(identity_from_context(context, run_id), pipeline=spec.name)
        state_dir = Path(self.state_dir) if self.state_dir is not None else default_state_dir()
        runner = PipelineRunner(
            spec,
            base_dir=Path(self.pipeline_file).parent,
            state_dir=state_dir,
            run_id=run_id,
            identity=identity,
            only=[self.activity],
            # A retry resumes the DAG run's pipeline run; a task cleared after it succeeded
            # runs its activity again (under the run id's next generation).
            rerun_done=True,
        )
        log.info(
            "pipeline %s, activity %s, run %s (state in %s)",
            spec.name,
            self.activity,
            run_id,
            state_dir,
        )
        report = runner.run()
        outcome = _the_outcome(report.activities, self.activity)
        log.info(
            "activity %s: %s in %.1f s%s",
            outcome.name,
            outcome.status,
            outcome.seconds,
            f": {outcome.message}" if outcome.message else "",
        )
        if outcome.report is not None:
            for line in outcome.report.summary().splitlines():
                log.info("%s", line)
        if outcome.status not in ("done", "already_done"):
            raise AirflowException(
                f"activity {self.activity} of {self.pipeline_file} {outcome.status}: "
                f"{outcome.message or 'no reason given'}"
            )
        return outcome.to_json()


def _the_outcome(outcomes: list[ActivityOutcome], activity: str) -> ActivityOutcome:
    for outcome in outcomes:
        if outcome.name == activity:
            return outcome
    # The runner reports every activity it was asked for; anything else is a bug.
    raise AirflowException(f"the pipeline run did not report activity {activity}")
