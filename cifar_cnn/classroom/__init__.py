"""Trainings for a whole class: a first-in, first-out queue whose jobs run on Ray, one worker process each.

    start_ray()                      # an embedded local Ray; start_ray("head:6379") or RAY_ADDRESS joins a cluster
    queue = TrainingQueue()          # the app keeps one (st.cache_resource)
    job_id = queue.submit(config, dataset, owner="Ada")
    queue.jobs()                     # every job: owner, state, place in line, times
    queue.snapshot(job_id)           # its live curves (a LiveSnapshot)
    queue.stop(job_id)               # ends after the current batch; the run is kept
    queue.close(); stop_ray()

- `engine`: the training engine, a process that holds Ray and the queue for the web app (Ray ends the processes that
  use it when it fails; the app must not be one of them), and `EngineQueue`, the app's handle on it;
- `cluster`: starting or joining Ray (`start_ray`, `stop_ray`) and what the cluster holds; `QueueError`;
- `queue_state`: the queue's file of unfinished jobs, checked entry by entry, and the lock that makes it one queue's;
- `relay`: live metrics and stop requests between a worker and the app (`LiveRelay`, a Ray actor);
- `worker`: `TrainingWorker`, the Ray actor that runs one training in a process of its own;
- `run_files`: a finished run's files, collected in the worker and written by the app into `artifacts/runs/<id>/`;
- `training_queue`: `TrainingQueue`, the queue the app holds, and `JobInfo`, what it says about a job.

Nothing here imports Streamlit, and nothing a worker does assumes it shares the app's disk: the dataset reaches it
through Ray's object store, and the run comes back as an object.
"""

from cifar_cnn.classroom.cluster import QueueError, describe_cluster, start_ray, stop_ray
from cifar_cnn.classroom.training_queue import JOB_STATES, JobInfo, TrainingQueue

__all__ = ["JOB_STATES", "JobInfo", "QueueError", "TrainingQueue", "describe_cluster", "start_ray", "stop_ray"]
