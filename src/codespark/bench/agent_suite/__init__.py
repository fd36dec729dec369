"""The agent's edit-task suite (instruction + starting files + a check), run by `codespark bench agent`."""

from .tasks import MARKER, TASKS, Task, get_tasks

__all__ = ["MARKER", "TASKS", "Task", "get_tasks"]
