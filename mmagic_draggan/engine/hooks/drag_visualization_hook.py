"""Write the result of every drag task of a Runner test loop to files."""
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

from mmengine.dist import collect_results, get_dist_info, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmagic_draggan.fileio.bundle import BundleContent, write_bundle
from mmagic_draggan.registry import HOOKS
from mmagic_draggan.structures.numbers import check_int


@HOOKS.register_module()
class DragVisualizationHook(Hook):
    """Save each task as a session bundle (the CLI's and the demo's format,
    :mod:`mmagic_draggan.fileio.bundle`) in ``out_dir/<id>/``: ``result.png``,
    ``start.png``, ``latent.pt``, ``start_latent.pt`` (tasks that began from
    a latent), ``mask.png`` (masked tasks), ``curves.png``,
    ``trajectory.gif`` (when ``save_gif``; frames come from a
    ``TrajectoryRecorderHook`` that this hook adds to the model's drag hooks
    for the test run) and ``session.json``, which ``tools/drag.py
    --resume`` and the demo's Load read.

    After the loop, the main process writes ``results_file``: the metrics
    and one summary per task in dataset order, gathered from all processes.

    In a distributed run MMEngine's ``DefaultSampler`` repeats the first
    samples so that every process gets as many; the sample at position
    ``i`` of process ``r`` (of ``W``) is a repeat when ``i * W + r`` is at
    least the dataset length. Repeats write no files, so each task is
    written once.

    Args:
        out_dir (str, optional): Output folder; relative paths are taken in
            the Runner's work dir. Defaults to None (``<work_dir>/drags``).
        save_gif (bool): Write the trajectory GIF (costs a full render every
            ``gif_interval`` steps). Defaults to False.
        gif_interval (int): Steps between GIF frames. Defaults to 5.
        gif_fps (int): GIF frame rate. Defaults to 10.
        max_frames (int): Frame limit per task. Defaults to 200.
        results_file (str): Summary file name in the work dir. Defaults to
            ``'results.json'``.
    """

    priority = 'NORMAL'

    def __init__(self,
                 out_dir: Optional[str] = None,
                 save_gif: bool = False,
                 gif_interval: int = 5,
                 gif_fps: int = 10,
                 max_frames: int = 200,
                 results_file: str = 'results.json'):
        self.out_dir = out_dir
        self.save_gif = save_gif
        self.gif_interval = check_int(gif_interval, 'gif_interval', 1)
        self.gif_fps = check_int(gif_fps, 'gif_fps', 1)
        self.max_frames = check_int(max_frames, 'max_frames', 2)
        self.results_file = results_file
        self._recorder_cfg: Optional[dict] = None

    # ------------------------------------------------------------------
    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_test_epoch(self, runner) -> None:
        model = self._model(runner)
        info = getattr(model, 'checkpoint_info', None)
        cfg = getattr(runner, 'cfg', None)
        load_from = cfg.get('load_from') if cfg else None
        if info and info.get('source') == 'state_dict' and \
                info.get('path') is None and load_from and \
                osp.isfile(load_from):
            # weights came through MMEngine's load_from: name the file in
            # the session records, as tools/test.py's do
            info['path'] = osp.abspath(load_from)
        self._dir = osp.join(runner.work_dir, self.out_dir or 'drags')
        os.makedirs(self._dir, exist_ok=True)
        self._rank, self._world_size = get_dist_info()
        self._size = len(runner.test_dataloader.dataset)
        self._seen = 0
        self._records: List[Dict[str, Any]] = []
        if self.save_gif:
            self._recorder_cfg = dict(
                type='TrajectoryRecorderHook',
                interval=self.gif_interval,
                max_frames=self.max_frames)
            self._model(runner).drag_hooks.append(self._recorder_cfg)

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch: Any = None,
                        outputs: Optional[Sequence[dict]] = None) -> None:
        for out in outputs or []:
            position = self._seen * self._world_size + self._rank
            self._seen += 1
            if position >= self._size:  # a repeat of the sampler's padding
                self._records.append(dict(padding=True))
                continue
            self._records.append(self._write(out))

    def after_test_epoch(self,
                         runner,
                         metrics: Optional[Dict[str, float]] = None) -> None:
        if self._recorder_cfg is not None:
            hooks = self._model(runner).drag_hooks
            if self._recorder_cfg in hooks:
                hooks.remove(self._recorder_cfg)
            self._recorder_cfg = None
        records = collect_results(self._records, self._size, device='cpu')
        if is_main_process():
            path = osp.join(runner.work_dir, self.results_file)
            with open(path, 'w') as f:
                json.dump(dict(metrics=metrics or {}, tasks=records), f,
                          indent=2)
            print_log(f'{len(records)} drag results in {self._dir}; '
                      f'summary: {path}', logger='current')

    # ------------------------------------------------------------------
    def _write(self, out: Dict[str, Any]) -> Dict[str, Any]:
        """Write one task's bundle; return its summary."""
        tid = out['task_id']
        written = write_bundle(
            osp.join(self._dir, tid),
            BundleContent(
                record=out['record'], result_image=out['final_image'],
                final_latent=out['final_latent'],
                start_image=out['start_image'],
                start_latent=out.get('start_latent'), mask=out.get('mask'),
                frames=out.get('trajectory') or (),
                inversion_file=out.get('inversion_file')),
            videos=('gif', ) if self.save_gif else (), fps=self.gif_fps,
            clear=True)
        return dict(
            id=tid,
            sample_idx=out['sample_idx'],
            bundle=tid,
            json_file=osp.join(tid, 'session.json'),
            rank=self._rank,
            **{k: out[k] for k in (
                'seed', 'latent_file', 'handles', 'targets', 'final_handles',
                'initial_distance', 'final_distance', 'steps', 'converged',
                'stop_reason', 'seconds')},
            errors=written.errors or None)
