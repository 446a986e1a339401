# Drag tasks (JSON / JSON Lines, see mmagic_draggan/datasets/drag_task.py)
# run by the Runner's test loop, with the drag metrics. The
# drag_tasks_<size>.py bases name the task file shipped for one image size;
# swap it with --tasks FILE (tools/test.py) or
# --cfg-options test_dataloader.dataset.ann_file=FILE (any tool). A relative
# ann_file is read from the working folder, else from the repository root.
test_dataloader = dict(
    batch_size=1,  # tasks per iteration; they run one after the other
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='DragTaskDataset', ann_file='', image_size=None))


test_cfg = dict(type='TestLoop')

test_evaluator = [
    dict(type='DragDistance'),  # drag/final_distance, drag/initial_distance
    dict(type='ConvergenceRate'),  # drag/convergence_rate
    dict(type='DragSteps'),  # drag/steps
    dict(type='DragTime'),  # drag/seconds
    dict(type='MaskedChange'),  # drag/masked_l1, drag/masked_psnr
]
