"""The drag-task dataset of batch runs."""
import os.path as osp
from typing import Any, Dict, List, Optional

from mmengine.dataset import BaseDataset

from mmagic_draggan.registry import DATASETS
from mmagic_draggan.structures.numbers import check_int
from mmagic_draggan.utils.paths import find_repo_path
from .drag_task import (DragTask, TaskError, load_task, parse_task,
                        read_task_file)


@DATASETS.register_module()
class DragTaskDataset(BaseDataset):
    """Drag tasks read from a JSON or JSON Lines file.

    The format is described in :mod:`mmagic_draggan.datasets.drag_task`;
    ``tools/make_tasks.py`` writes such files. Every task is validated when
    the dataset is built (errors name the file, line, task and field), so a
    bad task stops a batch run before any drag starts. Masks and latents are
    loaded per item.

    An item is ``dict(inputs=DragTask)``; with MMEngine's ``pseudo_collate``
    a batch becomes ``dict(inputs=[DragTask, ...])``, which
    ``DragGAN.test_step`` runs task by task.

    Args:
        ann_file (str): The task file (``.jsonl`` or ``.json``).
        image_size (int, optional): Image side of the model (H = W); when
            given, points and masks are checked against it
            (``tools/test.py`` sets it from the config). Defaults to None.
        data_root (str): Joined with a relative ``ann_file``. Defaults to
            ''. Without one, a relative ``ann_file`` is read from the working
            folder, else from the repository root (so the shipped
            ``data/drag_tasks/*.jsonl`` are found from anywhere).
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments
            (``indices``, ``lazy_init``, ``pipeline`` ...).
    """

    METAINFO = dict(task='drag')

    def __init__(self,
                 ann_file: str = '',
                 image_size: Optional[int] = None,
                 data_root: str = '',
                 **kwargs):
        self.image_size = None if image_size is None else check_int(
            image_size, "image_size (the model's out_size)", 2)
        kwargs.setdefault('test_mode', True)
        if ann_file and not data_root:
            ann_file = find_repo_path(ann_file)
        super().__init__(ann_file=ann_file, data_root=data_root, **kwargs)

    def load_data_list(self) -> List[Dict[str, Any]]:
        """Read and validate every task of ``ann_file``.

        Raises:
            TaskError: A missing file, bad JSON, a bad task or a repeated
                id, naming where.
        """
        items = read_task_file(self.ann_file)
        base_dir = osp.dirname(osp.abspath(self.ann_file))
        data_list: List[Dict[str, Any]] = []
        seen: Dict[str, str] = {}
        for index, (where, raw) in enumerate(items):
            info = parse_task(raw, where, base_dir, self.image_size, index)
            if info['id'] in seen:
                raise TaskError(
                    f'{where}: id {info["id"]!r} is used twice (also at '
                    f'{seen[info["id"]]}); ids name the output files, so '
                    'they must be unique')
            seen[info['id']] = where
            data_list.append(info)
        return data_list

    def prepare_data(self, idx: int) -> Dict[str, DragTask]:
        """The ``idx``-th task with its mask and latent loaded.

        Returns:
            dict: ``dict(inputs=DragTask)``.
        """
        info = self.pipeline(self.get_data_info(idx))
        return dict(inputs=load_task(info))
