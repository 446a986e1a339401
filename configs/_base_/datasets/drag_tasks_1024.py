# The drag tasks shipped for 1024x1024 generators: data/drag_tasks/
# drag_tasks_1024.jsonl (two one-point drags and a masked two-point drag).
# image_size checks the points and masks against the model's out_size.
_base_ = ['./drag_tasks.py']

test_dataloader = dict(
    dataset=dict(
        ann_file='data/drag_tasks/drag_tasks_1024.jsonl', image_size=1024))
