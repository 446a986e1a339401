"""Official (NVIDIA stylegan2-ada-pytorch style) pickles -> MMagic checkpoints.

The pickles are built here with the official structure: each network is a
``torch_utils.persistence``-style reduce ``_reconstruct_persistent_obj(meta)``
whose ``meta['module_src']`` would write a file and import a module if it
were executed, kwargs are ``dnnlib.EasyDict`` objects. The NVIDIA-named
weights are produced from a random MMagic generator by the inverse of the
table in docs/checkpoints.md (written out independently here), converted
back, loaded by ``load_generator_checkpoint`` and compared tensor by tensor.
"""
import contextlib
import importlib.util
import os
import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from ckpt_helpers import assert_same_state, make_generator, state

from mmagic_draggan.checkpoints.loader import load_generator_checkpoint
from mmagic_draggan.checkpoints.official.convert import (
    convert_official_pickle, key_table)
from mmagic_draggan.checkpoints.official.pickle_reader import (
    OfficialPickleError, PersistentStub, load_official_pickle)

ROOT = Path(__file__).resolve().parents[2]
MARKER_MODULE = 'draggan_test_never_imported'
FAKE_MODULES = ('torch_utils', 'torch_utils.persistence', 'dnnlib',
                'dnnlib.util', 'dnnlib.tflib', 'dnnlib.tflib.network')


class FakeNVIDIA:
    """Stand-ins for ``torch_utils.persistence`` and ``dnnlib`` that exist
    only while a pickle is written (pickle stores globals by name)."""

    def __init__(self, marker: Path):
        self.marker = marker
        self.src = (f'open({str(marker)!r}, "w").write("executed")\n'
                    f'import {MARKER_MODULE}\n')

    @contextlib.contextmanager
    def installed(self):
        persistence = types.ModuleType('torch_utils.persistence')

        def _reconstruct_persistent_obj(meta):
            raise AssertionError('the real reconstruct must never run')

        _reconstruct_persistent_obj.__module__ = 'torch_utils.persistence'
        _reconstruct_persistent_obj.__qualname__ = (
            '_reconstruct_persistent_obj')
        persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
        util = types.ModuleType('dnnlib.util')

        class EasyDict(dict):
            pass

        EasyDict.__module__, EasyDict.__qualname__ = 'dnnlib.util', 'EasyDict'
        util.EasyDict = EasyDict
        network = types.ModuleType('dnnlib.tflib.network')

        class Network:

            def __getstate__(self):
                return dict(
                    version=4,
                    name='G',
                    static_kwargs={},
                    build_module_src=self_src,
                    build_func_name='G_main',
                    variables=[('G/dense', np.zeros(2))])

        self_src = self.src
        Network.__module__ = 'dnnlib.tflib.network'
        Network.__qualname__ = 'Network'
        network.Network = Network
        modules = {
            'torch_utils': types.ModuleType('torch_utils'),
            'torch_utils.persistence': persistence,
            'dnnlib': types.ModuleType('dnnlib'),
            'dnnlib.util': util,
            'dnnlib.tflib': types.ModuleType('dnnlib.tflib'),
            'dnnlib.tflib.network': network,
        }
        saved = {n: sys.modules.get(n) for n in FAKE_MODULES}
        sys.modules.update(modules)
        self.reconstruct, self.EasyDict, self.Network = (
            _reconstruct_persistent_obj, EasyDict, Network)
        try:
            yield self
        finally:
            for name, old in saved.items():
                if old is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = old


class Persistent:
    """Pickles like a ``torch_utils.persistence`` object."""

    def __init__(self,
                 fake,
                 class_name,
                 params=None,
                 buffers=None,
                 modules=None,
                 kwargs=None,
                 **attrs):
        self.fake, self.class_name = fake, class_name
        self.params, self.buffers = params or {}, buffers or {}
        self.modules, self.kwargs, self.attrs = modules or {}, kwargs, attrs

    def __reduce__(self):
        state_ = dict(
            training=False,
            _parameters=OrderedDict(
                (k, torch.nn.Parameter(v.clone(), requires_grad=False))
                for k, v in self.params.items()),
            _buffers=OrderedDict(
                (k, v.clone()) for k, v in self.buffers.items()),
            _non_persistent_buffers_set=set(),
            _backward_hooks=OrderedDict(),
            _forward_hooks=OrderedDict(),
            _forward_pre_hooks=OrderedDict(),
            _modules=OrderedDict(self.modules),
            _init_args=(),
            _init_kwargs=self.fake.EasyDict(self.kwargs or {}),
            **self.attrs)
        meta = dict(
            type='class',
            version=6,
            module_src=self.fake.src,
            class_name=self.class_name,
            state=state_)
        return (self.fake.reconstruct, (meta, ))


def _fc(fake, weight, bias, lr=1.0):
    return Persistent(
        fake,
        'FullyConnectedLayer',
        dict(weight=weight, bias=bias),
        weight_gain=np.float64(lr / np.sqrt(weight.shape[1])),
        bias_gain=lr,
        activation='linear')


def _layer(fake, mm, m, noise, res):
    """Inverse table for one conv layer (MMagic prefix m)."""
    return Persistent(
        fake,
        'SynthesisLayer',
        dict(
            weight=mm[f'{m}.conv.weight_orig'][0],
            noise_strength=mm[f'{m}.noise_injector.weight'].reshape([]),
            bias=mm[f'{m}.activate.bias']),
        dict(
            resample_filter=torch.ones(4, 4) / 16,
            noise_const=mm[f'injected_noise_{noise}'][0, 0]),
        dict(
            affine=_fc(fake,
                       mm[f'{m}.conv.style_modulation.linear.weight_orig'],
                       mm[f'{m}.conv.style_modulation.bias'])),
        resolution=res,
        use_noise=True)


def _torgb(fake, mm, m):
    return Persistent(
        fake,
        'ToRGBLayer',
        dict(
            weight=mm[f'{m}.conv.weight_orig'][0],
            bias=mm[f'{m}.bias'].reshape(-1)),
        modules=dict(
            affine=_fc(fake,
                       mm[f'{m}.conv.style_modulation.linear.weight_orig'],
                       mm[f'{m}.conv.style_modulation.bias'])))


def nvidia_generator(fake, mm, out_size=64, num_mlps=2, w_avg=True, c_dim=0):
    """An official-structured Generator holding MMagic state ``mm``."""
    blocks = OrderedDict()
    blocks['b4'] = Persistent(
        fake,
        'SynthesisBlock',
        dict(const=mm['constant_input.input'][0]),
        dict(resample_filter=torch.ones(4, 4) / 16),
        dict(
            conv1=_layer(fake, mm, 'conv1', 0, 4),
            torgb=_torgb(fake, mm, 'to_rgb1')),
        architecture='skip')
    for k in range(3, out_size.bit_length()):
        res, i = 2**k, k - 3
        blocks[f'b{res}'] = Persistent(
            fake,
            'SynthesisBlock',
            None,
            dict(resample_filter=torch.ones(4, 4) / 16),
            dict(
                conv0=_layer(fake, mm, f'convs.{2 * i}', 2 * k - 5, res),
                conv1=_layer(fake, mm, f'convs.{2 * i + 1}', 2 * k - 4, res),
                torgb=_torgb(fake, mm, f'to_rgbs.{i}')),
            architecture='skip')
    mapping = Persistent(
        fake,
        'MappingNetwork',
        None,
        dict(w_avg=mm['w_avg']) if w_avg else None,
        OrderedDict((f'fc{n}',
                     _fc(fake,
                         mm[f'style_mapping.{n + 1}.linear.weight_orig'],
                         mm[f'style_mapping.{n + 1}.bias'],
                         lr=0.01)) for n in range(num_mlps)),
        kwargs=dict(num_layers=num_mlps))
    w_dim = mm['w_avg'].shape[0]
    return Persistent(
        fake,
        'Generator',
        modules=OrderedDict(
            synthesis=Persistent(fake, 'SynthesisNetwork', modules=blocks),
            mapping=mapping),
        kwargs=dict(
            z_dim=w_dim,
            c_dim=c_dim,
            w_dim=w_dim,
            img_resolution=out_size,
            img_channels=3,
            mapping_kwargs=fake.EasyDict(num_layers=num_mlps),
            synthesis_kwargs=fake.EasyDict(
                channel_base=16384, channel_max=512)))


@pytest.fixture
def fake(tmp_path):
    return FakeNVIDIA(tmp_path / 'module_src_was_executed')


def _gens(out_size):
    return {
        'G': state(make_generator(11, out_size=out_size)),
        'G_ema': state(make_generator(12, out_size=out_size))
    }


@pytest.fixture(scope='module')
def gens():
    """G and G_ema of an 8x8 variant of the tiny generator (fast)."""
    return _gens(8)


@pytest.fixture(scope='module')
def gens64():
    """G and G_ema of the tiny 64x64 generator (our tiny config)."""
    return _gens(64)


def write_pickle(fake, path, build, protocol=4):
    """Write ``build(fake)`` (a top-level dict) as an official pickle."""
    with fake.installed():
        data = build(fake)
        with open(path, 'wb') as f:
            pickle.dump(data, f, protocol=protocol)
    return str(path)


def _size(gens):
    return gens['G_ema']['injected_noise_0'].shape[-1] * 2**(
        (len([k
              for k in gens['G_ema'] if k.startswith('injected_noise_')]) - 1)
        // 2)


def full_pickle(gens, keys=('G', 'D', 'G_ema'), **kw):
    kw.setdefault('out_size', _size(gens))

    def build(fake):
        out = {}
        for key in keys:
            if key == 'D':
                out['D'] = Persistent(
                    fake,
                    'Discriminator',
                    dict(w=torch.randn(4, 4)),
                    kwargs=dict(c_dim=0, img_resolution=64))
            else:
                out[key] = nvidia_generator(fake, gens[key], **kw)
        out['training_set_kwargs'] = fake.EasyDict(
            class_name='training.dataset.ImageFolderDataset',
            path='x.zip',
            resolution=64,
            use_labels=False,
            xflip=True)
        out['augment_pipe'] = None
        return out

    return build


def assert_nothing_ran(fake):
    assert not fake.marker.exists(), 'module_src was executed'
    assert MARKER_MODULE not in sys.modules
    for name in FAKE_MODULES:
        assert name not in sys.modules, f'{name} was imported'


def test_round_trip_exact_tiny_config(tmp_path, fake, gens64):
    src = write_pickle(fake, tmp_path / 'net.pkl', full_pickle(gens64))
    info = convert_official_pickle(src, str(tmp_path / 'net.pth'))
    assert_nothing_ran(fake)
    assert info['which'] == 'G_ema' and info['w_avg']
    assert info['arch'] == dict(
        out_size=64,
        style_channels=64,
        num_mlps=2,
        channel_multiplier=1,
        noise_size=64)
    assert info['configs'] == [
        'configs/draggan/draggan_stylegan2_tiny-64x64.py'
    ]
    target = make_generator(0)
    loaded = load_generator_checkpoint(target, str(tmp_path / 'net.pth'))
    assert loaded['ema'] and loaded['prefix'] == 'generator_ema.'
    assert loaded['noise'] == 'checkpoint' and loaded['w_avg'] == 'checkpoint'
    assert not loaded['kernels_filled']
    assert_same_state(state(target), gens64['G_ema'])  # every tensor


@pytest.mark.parametrize('protocol', [2, 5])
def test_round_trip_exact_protocols(tmp_path, fake, gens, protocol):
    src = write_pickle(fake, tmp_path / 'net.pkl', full_pickle(gens), protocol)
    info = convert_official_pickle(src, str(tmp_path / 'net.pth'))
    assert_nothing_ran(fake)
    assert info['arch']['out_size'] == 8 and info['configs'] == []
    target = make_generator(0, out_size=8)
    load_generator_checkpoint(target, str(tmp_path / 'net.pth'))
    assert_same_state(state(target), gens['G_ema'])


def test_unpickled_structure_is_inert(tmp_path, fake, gens):
    src = write_pickle(fake, tmp_path / 'net.pkl', full_pickle(gens))
    data = load_official_pickle(src)
    assert_nothing_ran(fake)
    g = data['G_ema']
    assert isinstance(g, PersistentStub) and g.class_name == 'Generator'
    assert not hasattr(g, 'module_src')
    assert g.init_kwargs['img_resolution'] == 8
    assert data['training_set_kwargs'].resolution == 64
    fc0 = g.child('mapping').child('fc0')
    assert isinstance(fc0.state['weight_gain'], np.floating)
    nv = g.state_dict()
    assert nv['synthesis.b4.const'].shape == (512, 4, 4)
    assert nv['synthesis.b8.conv1.noise_const'].shape == (8, 8)
    assert nv['synthesis.b8.conv1.noise_strength'].shape == ()
    assert 'synthesis.b8.conv0.resample_filter' in nv


@pytest.mark.parametrize('keys,which,expect', [
    (('G', ), None, 'G'),
    (('G_ema', ), None, 'G_ema'),
    (('G', 'D', 'G_ema'), None, 'G_ema'),
    (('G', 'D', 'G_ema'), 'G', 'G'),
])
def test_which_generator(tmp_path, fake, gens, keys, which, expect):
    src = write_pickle(fake, tmp_path / 'net.pkl', full_pickle(gens, keys))
    info = convert_official_pickle(src, str(tmp_path / 'o.pth'), which)
    assert info['which'] == expect
    target = make_generator(0, out_size=8)
    loaded = load_generator_checkpoint(target, str(tmp_path / 'o.pth'))
    assert loaded['ema'] == (expect == 'G_ema')
    assert_same_state(state(target), gens[expect])


def test_requested_generator_absent(tmp_path, fake, gens):
    src = write_pickle(fake, tmp_path / 'net.pkl', full_pickle(gens, ('G', )))
    with pytest.raises(OfficialPickleError, match='no G_ema'):
        convert_official_pickle(src, str(tmp_path / 'o.pth'), 'G_ema')
    src = write_pickle(fake, tmp_path / 'd.pkl', full_pickle(gens, ('D', )))
    with pytest.raises(OfficialPickleError, match='no G_ema or G'):
        convert_official_pickle(src, str(tmp_path / 'o.pth'))


def test_pickle_without_w_avg(tmp_path, fake, gens):
    src = write_pickle(fake, tmp_path / 'net.pkl',
                       full_pickle(gens, ('G_ema', ), w_avg=False))
    info = convert_official_pickle(src, str(tmp_path / 'o.pth'))
    assert not info['w_avg']
    target = make_generator(0, out_size=8)
    with pytest.warns(UserWarning, match='w_avg'):
        loaded = load_generator_checkpoint(target, str(tmp_path / 'o.pth'))
    assert loaded['w_avg'] == 'computed'
    assert_same_state(state(target), gens['G_ema'], skip=['w_avg'])


def _mutated(gens, mutate):
    """A G_ema pickle whose synthesis/mapping is changed by ``mutate``."""

    def build(fake):
        g = nvidia_generator(fake, gens['G_ema'], out_size=_size(gens))
        mutate(fake, g)
        return {'G_ema': g}

    return build


def _synthesis(g):
    return g.modules['synthesis'].modules


def _conditional(fake, g):
    g.kwargs['c_dim'] = 10
    g.modules['mapping'].modules['embed'] = _fc(fake, torch.zeros(64, 10),
                                                torch.zeros(64))


def _stylegan3(fake, g):
    _synthesis(g)['input'] = Persistent(fake, 'SynthesisInput',
                                        dict(freqs=torch.zeros(4, 2)))


def _non_power_of_two(fake, g):
    _synthesis(g)['b6'] = _synthesis(g).pop('b8')


def _channel_base(fake, g):
    conv1 = _synthesis(g)['b64'].modules['conv1']
    conv1.params['weight'] = torch.zeros(128, 256, 3, 3)


def _channel_max(fake, g):
    conv1 = _synthesis(g)['b8'].modules['conv1']
    conv1.params['weight'] = torch.zeros(256, 512, 3, 3)


def _resnet(fake, g):
    for block in _synthesis(g).values():
        block.attrs['architecture'] = 'resnet'


def _mapping_lr(fake, g):
    g.modules['mapping'].modules['fc0'].attrs['bias_gain'] = 1.0


def _wide_mapping(fake, g):
    fc0 = g.modules['mapping'].modules['fc0']
    fc0.params['weight'] = torch.zeros(128, 64)


def _unknown_weight(fake, g):
    _synthesis(g)['b8'].params['extra'] = torch.zeros(3)


@pytest.mark.parametrize('mutate,words', [
    (_conditional, 'conditional'),
    (_stylegan3, 'StyleGAN3'),
    (_non_power_of_two, 'not a power of two'),
    (_channel_base, 'channel_multiplier'),
    (_channel_max, 'channel_max'),
    (_resnet, 'resnet'),
    (_mapping_lr, 'lr_multiplier'),
    (_wide_mapping, 'layer_features'),
    (_unknown_weight, 'synthesis.b8.extra'),
])
def test_unsupported_generators_refused(tmp_path, fake, gens, gens64, mutate,
                                        words):
    # the channel_base case needs a >= 64 px block; the rest run at 8 px
    nets = gens64 if mutate is _channel_base else gens
    src = write_pickle(fake, tmp_path / 'net.pkl', _mutated(nets, mutate))
    with pytest.raises(OfficialPickleError, match=words):
        convert_official_pickle(src, str(tmp_path / 'o.pth'))
    assert not (tmp_path / 'o.pth').exists()
    assert_nothing_ran(fake)


def test_tensorflow_pickle_refused(tmp_path, fake):

    def build(fake):
        return (fake.Network(), fake.Network(), fake.Network())

    src = write_pickle(fake, tmp_path / 'tf.pkl', build)
    with pytest.raises(OfficialPickleError) as err:
        load_official_pickle(src)
    assert 'TensorFlow' in str(err.value)
    assert 'StyleGAN2-car-official' in str(err.value)
    assert_nothing_ran(fake)


class _System:

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


class _Eval:

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (eval, (f'open({str(self.marker)!r}, "w")', ))


@pytest.mark.parametrize('evil', [_System, _Eval])
def test_forbidden_global_refused_without_running(tmp_path, fake, gens, evil):
    marker = tmp_path / 'pwned'

    def build(fake):
        data = full_pickle(gens, ('G_ema', ))(fake)
        data['augment_pipe'] = evil(marker)
        return data

    src = write_pickle(fake, tmp_path / 'evil.pkl', build)
    with pytest.raises(OfficialPickleError, match='not on the whitelist'):
        convert_official_pickle(src, str(tmp_path / 'o.pth'))
    assert not marker.exists()
    assert_nothing_ran(fake)


def test_other_inputs_refused(tmp_path):
    zipped = tmp_path / 'x.pth'
    torch.save({'a': torch.zeros(1)}, str(zipped))
    with pytest.raises(OfficialPickleError, match='torch.save zip'):
        load_official_pickle(str(zipped))
    lst = tmp_path / 'list.pkl'
    lst.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(OfficialPickleError, match='not the dict'):
        load_official_pickle(str(lst))
    trunc = tmp_path / 'trunc.pkl'
    trunc.write_bytes(pickle.dumps({'a': list(range(100))})[:50])
    with pytest.raises(OfficialPickleError, match='truncated'):
        load_official_pickle(str(trunc))


def test_key_table_matches_design():
    table = {nv: mm for nv, mm, _ in key_table(64, 2)}
    assert table['mapping.fc0.weight'] == 'style_mapping.1.linear.weight_orig'
    assert table['mapping.fc1.bias'] == 'style_mapping.2.bias'
    assert table['synthesis.b4.conv1.noise_const'] == 'injected_noise_0'
    assert table['synthesis.b8.conv0.noise_const'] == 'injected_noise_1'
    assert table['synthesis.b64.conv1.noise_const'] == 'injected_noise_8'
    assert table['synthesis.b64.conv0.affine.bias'] == \
        'convs.6.conv.style_modulation.bias'
    assert table['synthesis.b64.torgb.weight'] == 'to_rgbs.3.conv.weight_orig'
    assert table['synthesis.b4.torgb.bias'] == 'to_rgb1.bias'
    assert table['synthesis.b4.conv1.noise_strength'] == \
        'conv1.noise_injector.weight'
    assert len(set(table.values())) == len(table)


def test_cli(tmp_path, fake, gens, capsys):
    spec = importlib.util.spec_from_file_location(
        'convert_official_pkl', ROOT / 'tools' / 'convert_official_pkl.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    src = write_pickle(fake, tmp_path / 'net.pkl', full_pickle(gens))
    assert tool.main([src, str(tmp_path / 'o.pth'), '--which', 'G']) == 0
    out = capsys.readouterr().out
    assert 'converted G of' in out and 'out_size=8' in out
    assert 'no config in configs/draggan fits' in out
    marker = tmp_path / 'pwned'
    bad = tmp_path / 'bad.pkl'
    bad.write_bytes(pickle.dumps({'x': _System(marker)}))
    assert tool.main([str(bad), str(tmp_path / 'b.pth')]) == 2
    assert 'system' in capsys.readouterr().err
    assert not marker.exists()
