"""The model zoo read from configs/draggan/*.py, and the metafile beside it."""
from pathlib import Path

import yaml

from mmagic_draggan.checkpoints.zoo import (DEFAULT_BASE_URL, find_zoo_entry,
                                            list_configs, list_zoo)

ROOT = Path(__file__).resolve().parents[2]

#: The released checkpoints of docs/checkpoints.md, written out here.
RELEASED = {
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
    assert set(zoo) == set(RELEASED)
    for name, (res, filename) in RELEASED.items():
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


def _metafile():
    return yaml.safe_load((ROOT / 'configs/draggan/metafile.yml').read_text())


def test_model_index_is_valid():
    """OpenMMLab's own checker (model-index) accepts the root
    model-index.yml and the metafile it imports."""
    from modelindex.load_model_index import load
    mi = load(str(ROOT / 'model-index.yml'))
    assert mi.check(silent=True) == []
    assert len(mi.models) == len(_metafile()['Models'])


def test_metafile_has_the_openmmlab_form():
    """The keys MMagic's own metafiles (mmagic/.mim/configs/*/metafile.yml)
    carry: Collections with Name, Paper, README, Task, Year; Models with
    Name, In Collection, Config, Metadata; Results as Task, Dataset,
    Metrics."""
    root = yaml.safe_load((ROOT / 'model-index.yml').read_text())
    assert root == {'Import': ['configs/draggan/metafile.yml']}
    meta = _metafile()
    assert set(meta) == {'Collections', 'Models'}
    collection, = meta['Collections']
    assert {'Name', 'Paper', 'README', 'Task', 'Year'} <= set(collection)
    assert set(collection['Paper']) == {'Title', 'URL'}
    assert collection['Paper']['URL'].startswith('https://arxiv.org/')
    names = [m['Name'] for m in meta['Models']]
    assert len(names) == len(set(names))
    for m in meta['Models']:
        assert {'Name', 'In Collection', 'Config', 'Metadata'} <= set(m), m
        assert set(m) <= {'Name', 'In Collection', 'Config', 'Metadata',
                          'Weights', 'Results'}, m
        for result in m.get('Results', []):
            assert set(result) == {'Task', 'Dataset', 'Metrics'}, m['Name']
            assert result['Task'] in collection['Task']
            assert result['Metrics'], m['Name']  # no empty placeholders
            for key, value in result['Metrics'].items():
                assert isinstance(value, (int, float)), (key, value)
                assert 'seconds' not in key  # machine dependent


def test_metafile_lists_the_zoo():
    meta = _metafile()
    collection = meta['Collections'][0]['Name']
    for m in meta['Models']:
        assert m['In Collection'] == collection
        assert (ROOT / m['Config']).is_file(), m['Config']
        assert m['Name'] == Path(m['Config']).stem
    configs = sorted(p.relative_to(ROOT).as_posix()
                     for p in (ROOT / 'configs/draggan').glob('*.py'))
    assert sorted(m['Config'] for m in meta['Models']) == configs
    released = [m for m in meta['Models'] if 'Weights' in m]
    models = {m['Metadata']['Checkpoint Name']: m for m in released}
    zoo = {e['name']: e for e in list_zoo()}
    assert set(models) == set(zoo)
    for name, m in models.items():
        e = zoo[name]
        assert m['Config'] == e['config']
        assert m['Weights'] == e['url']
        assert m['Metadata']['Resolution'] == e['resolution']
        assert m['Metadata']['Local File'] == e['path']
        assert m['Metadata']['Training Data'] == e['dataset']
        assert m['Metadata']['lr'] == e['lr']
        assert 'Results' not in m  # none measured: no invented numbers
    tiny, = [m for m in meta['Models'] if 'Weights' not in m]
    assert tiny['Metadata']['Random Weights'] is True
    entry, = [c for c in list_configs() if c['config'] == tiny['Config']]
    assert entry['name'] is None
    assert tiny['Metadata']['Resolution'] == entry['out_size']
    assert tiny['Metadata']['lr'] == entry['lr']


def _readme_section(title):
    text = (ROOT / 'README.md').read_text()
    return text.split(f'\n## {title}', 1)[1].split('\n## ', 1)[0]


def _readme_zoo_rows():
    rows = [line.strip('|').split('|')
            for line in _readme_section('Model zoo').splitlines()
            if line.startswith('| [')]
    return [[c.strip() for c in row] for row in rows]


def test_readme_zoo_table_matches_the_metafile():
    meta = {m['Config']: m for m in _metafile()['Models']}
    rows = _readme_zoo_rows()
    assert len(rows) == len(meta)
    for link, data, res, ckpt, local, lr in rows:
        config = link.split('(', 1)[1].rstrip(')')
        m = meta.pop(config)
        md = m['Metadata']
        assert data == md['Training Data'], config
        assert res == f"{md['Resolution']}x{md['Resolution']}", config
        assert float(lr) == md['lr'], config
        if 'Weights' in m:
            assert ckpt == f"`{md['Checkpoint Name']}`", config
            assert local == f"`{md['Local File']}`", config
        else:
            assert 'random-weights' in ckpt and local == '-', config
    assert not meta


def _tiny_results():
    tiny, = [m for m in _metafile()['Models'] if 'Results' in m]
    result, = tiny['Results']
    return tiny, result


def test_readme_measured_table_matches_the_metafile():
    """README "Use with MMagic's own tools" prints the tiny config's
    metrics, one column per tool: every column is the metafile's Results."""
    _, result = _tiny_results()
    rows = {}
    for line in _readme_section("Use with MMagic's own tools").splitlines():
        cells = [c.strip() for c in line.strip().strip('|').split('|')]
        if line.startswith('| drag/'):
            rows[cells[0]] = [float(c) for c in cells[1:]]
    assert set(rows) == set(result['Metrics'])
    for key, values in rows.items():
        assert values and all(v == result['Metrics'][key] for v in values), \
            (key, values, result['Metrics'][key])


def test_metafile_results_are_what_the_batch_tool_measures(tmp_path):
    """The tiny model's Results, re-measured: the shipped 64 px tasks on its
    seeded random weights (what CHECKPOINT none runs, and the whole-GAN
    checkpoint of README "Use with MMagic's own tools" holds; the three
    tools agree, tests/test_openmmlab_way.py), through run_batch, the code
    tools/test.py runs."""
    from mmagic_draggan.apis import run_batch
    tiny, result = _tiny_results()
    assert (ROOT / result['Dataset']).is_file()
    metrics = run_batch(str(ROOT / tiny['Config']), 'none',
                        tasks=str(ROOT / result['Dataset']),
                        work_dir=str(tmp_path), random_weights=True)
    assert set(result['Metrics']) == set(metrics) - {'drag/seconds'}
    for key, value in result['Metrics'].items():
        decimals = len(repr(float(value)).split('.')[1])
        assert round(metrics[key], decimals) == value, (key, metrics[key])
