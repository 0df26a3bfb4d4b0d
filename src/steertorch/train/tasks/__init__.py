"""The registered training tasks: one small module per task (``_name.py``), each decorated with
:func:`~steertorch.train.register_task`. Every module of this package is imported when the registry
is first used (:func:`~steertorch.train.available_tasks`), so a new task needs no edit here.

>>> from steertorch.train import available_tasks
>>> sorted(available_tasks())[-1:]
['tetris']
"""

__all__: list[str] = []
