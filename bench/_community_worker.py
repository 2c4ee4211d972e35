"""One worker process of the community client, for `bench/bridge_vs_community.py` (which starts it).

Runs in a throwaway virtual environment, never the project's. The package declares only `requests`, but it imports
`pydantic` (its auth models) in every worker and `httpx` in the async one, so those come along by hand:

    python3 -m venv /tmp/peer-venv
    /tmp/peer-venv/bin/pip install camunda-external-task-client-python3 pydantic httpx
    /tmp/peer-venv/bin/python bench/_community_worker.py --base-url URL --topic T --worker-id W --out FILE \
        [--mode sync|async] [--max-tasks N] [--max-concurrent N]

The handler does no work: it appends `<process instance id> <time.time()>` to `--out` as it starts, then completes
the task with no variables. Only the options given are passed to the client; everything else is its default
(sync: maxTasks 1, lockDuration 300 s, asyncResponseTimeout 30 s, 300 s sleep after an error). Prints `ready` just
before it subscribes; runs until killed (SIGTERM's default action: the file is line-buffered, nothing is lost).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any, TextIO

from camunda.external_task.async_external_task_worker import AsyncExternalTaskWorker
from camunda.external_task.external_task import ExternalTask, TaskResult
from camunda.external_task.external_task_worker import ExternalTaskWorker


def _config(args: argparse.Namespace) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if args.max_tasks is not None:
        config["maxTasks"] = args.max_tasks
    if args.max_concurrent is not None:
        config["maxConcurrentTasks"] = args.max_concurrent
    return config


def run_sync(args: argparse.Namespace, out: TextIO) -> None:
    def handle(task: ExternalTask) -> TaskResult:
        started = time.time()
        out.write(f"{task.get_process_instance_id()} {started}\n")
        return task.complete({})

    worker = ExternalTaskWorker(worker_id=args.worker_id, base_url=args.base_url, config=_config(args))
    print("ready", flush=True)
    worker.subscribe(args.topic, handle)


async def run_async(args: argparse.Namespace, out: TextIO) -> None:
    async def handle(task: ExternalTask) -> TaskResult:
        started = time.time()
        out.write(f"{task.get_process_instance_id()} {started}\n")
        return task.complete({})

    worker = AsyncExternalTaskWorker(worker_id=args.worker_id, base_url=args.base_url, config=_config(args))
    print("ready", flush=True)
    await worker.subscribe({args.topic: handle})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", required=True, help="the engine's REST base, …/engine-rest")
    ap.add_argument("--topic", required=True)
    ap.add_argument("--worker-id", required=True)
    ap.add_argument("--out", required=True, help="file the handler appends its start times to")
    ap.add_argument("--mode", choices=("sync", "async"), default="sync")
    ap.add_argument("--max-tasks", type=int, help="sync worker's maxTasks (default: the client's, 1)")
    ap.add_argument("--max-concurrent", type=int, help="async worker's maxConcurrentTasks (default: the client's, 10)")
    args = ap.parse_args()
    with open(args.out, "a", buffering=1) as out:
        if args.mode == "sync":
            run_sync(args, out)
        else:
            asyncio.run(run_async(args, out))


if __name__ == "__main__":
    main()
