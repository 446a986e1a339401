"""The model zoo read from configs/draggan/*.py, and the metafile beside it."""
from pathlib import Path

import yaml

from mmagic_draggan.utils.zoo import (DEFAULT_BASE_URL, find_zoo_entry,
                                      list_configs, list_zoo)

ROOT = Path(__file__).resolve().parents[1]

#: DESIGN.md section 3, verbatim.
DESIGN = {
    'StyleGAN2-Lions-internet':
    (512, 'stylegan2_lions_512_pytorch_mmagic.pth'),
    'StyleGAN2-elephants-internet':
    (512, 'stylegan2_elephants_512_pytorch_mmagic.pth'),
    'StyleGAN2-cat-AFHQ': (512, 'stylegan2_cats_512_pytorch_mmagic.pth'),
    'StyleGAN2-FFHQ': (512, 'stylegan2_face_512_pytorch_mmagic.pth'),
    'StyleGAN2-lsun-horses': (256, 'stylegan2_horse_256_pytorch_mmagic.pth'),
    'StyleGAN2-dogs-internet':
    (1024, 'stylegan2_dogs_1024_pytorch_mmagic.pth'),
    'StyleGAN2-car-official': (512, 'stylegan2_car_512_pytorch_mmagic.pth'),
    'StyleGAN2-cat-official': (256, 'stylegan2_cat_256_pytorch_mmagic.pth'),
}


def test_zoo_matches_design():
    zoo = {e['name']: e for e in list_zoo()}
    assert set(zoo) == set(DESIGN)
    for name, (res, filename) in DESIGN.items():
        e = zoo[name]
        assert (e['resolution'], e['filename']) == (res, filename)
        assert e['path'] == f'checkpoints/{filename}'
        assert e['url'] == DEFAULT_BASE_URL + name
        assert (ROOT / e['config']).is_file()
        assert f'{res}x{res}' in e['config']


def test_configs_include_tiny_without_checkpoint():
    tiny = [c for c in list_configs() if c['out_size'] == 64]
    assert len(tiny) == 1 and tiny[0]['name'] is None
    assert tiny[0]['channel_multiplier'] == 1


def test_find_is_case_insensitive():
    assert find_zoo_entry(' stylegan2-LIONS-internet ')['resolution'] == 512
    assert find_zoo_entry('nope') is None


def test_metafile_lists_the_zoo():
    meta = yaml.safe_load((ROOT / 'configs/draggan/metafile.yml').read_text())
    models = {m['Metadata']['Checkpoint Name']: m for m in meta['Models']}
    zoo = {e['name']: e for e in list_zoo()}
    assert set(models) == set(zoo)
    for name, m in models.items():
        e = zoo[name]
        assert m['Config'] == e['config']
        assert m['Weights'] == e['url']
        assert m['Metadata']['Resolution'] == e['resolution']
        assert m['Metadata']['Local File'] == e['path']
        assert m['In Collection'] == meta['Collections'][0]['Name']
