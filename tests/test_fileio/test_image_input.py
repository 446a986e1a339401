"""Photo input for inversion: formats, orientation, squaring and refusals."""
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from mmagic_draggan.fileio.image_input import (check_image_file, load_image,
                                               prepare_image)


def _save(tmp_path, name, arr, **kw):
    path = tmp_path / name
    Image.fromarray(arr).save(path, **kw)
    return str(path)


def _patch_png_size(path, width, height):
    """Rewrite the IHDR size of a PNG (and its CRC): a header claiming a
    huge image with almost no data."""
    data = bytearray(open(path, 'rb').read())
    assert data[12:16] == b'IHDR'
    data[16:24] = struct.pack('>II', width, height)
    crc = zlib.crc32(bytes(data[12:29])) & 0xffffffff
    data[29:33] = struct.pack('>I', crc)
    open(path, 'wb').write(bytes(data))


def test_rgb_crop_box_and_size(tmp_path):
    arr = np.zeros((40, 100, 3), np.uint8)
    arr[:, 30:70] = 255  # the centre square is white
    img, info = load_image(_save(tmp_path, 'a.png', arr), 32)
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    assert info['original_size'] == [100, 40]
    assert info['box'] == [30, 0, 70, 40]
    assert img.min() >= 250  # only the white centre was kept
    assert info['orientation'] == 1 and info['resize'] == 'crop'


def test_pad_box_reaches_past_the_edges(tmp_path):
    arr = np.zeros((40, 100, 3), np.uint8)
    img, info = load_image(_save(tmp_path, 'a.png', arr), 50, resize='pad')
    assert info['box'] == [0, -30, 100, 70]
    assert img.shape == (50, 50, 3)
    assert img[0].min() == 255 and img[25].max() == 0  # white pad rows


def test_exif_rotation_applied(tmp_path):
    arr = np.zeros((20, 60, 3), np.uint8)  # wide
    arr[:, :10] = 255  # white on the left
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = tmp_path / 'r.jpg'
    im.save(path, exif=exif.tobytes(), quality=95)
    img, info = load_image(str(path), 20, resize='pad')
    assert info['orientation'] == 6
    assert info['original_size'] == [20, 60]  # now tall
    # white (the stored left) is now on top
    assert img[:3, 10].mean() > 200 and img[-3:, 10].mean() < 60


def test_rgba_on_white_grey_and_palette(tmp_path):
    rgba = np.zeros((32, 32, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :16, 3] = 255  # left half opaque red, right half transparent
    img, _ = load_image(_save(tmp_path, 'a.png', rgba), 32)
    assert tuple(img[5, 5]) == (255, 0, 0)
    assert tuple(img[5, 28]) == (255, 255, 255)
    grey = np.full((32, 32), 77, np.uint8)
    img, info = load_image(_save(tmp_path, 'g.png', grey), 32)
    assert info['mode'] == 'L' and (img == 77).all()
    pal = Image.fromarray(np.full((32, 32, 3), 40, np.uint8)).convert('P')
    pal.save(tmp_path / 'p.gif')
    img, info = load_image(str(tmp_path / 'p.gif'), 16)
    assert info['mode'] == 'P' and img.shape == (16, 16, 3)
    assert abs(int(img.mean()) - 40) <= 2


def test_array_input():
    img, info = prepare_image(np.full((20, 30, 3), 9, np.uint8), 16)
    assert img.shape == (16, 16, 3) and info['box'] == [5, 0, 25, 20]
    with pytest.raises(ValueError, match='uint8'):
        prepare_image(np.zeros((20, 20, 3), np.float32), 16)


def test_bad_files(tmp_path):
    with pytest.raises(ValueError, match='does not exist'):
        load_image(str(tmp_path / 'nope.png'), 32)
    empty = tmp_path / 'empty.png'
    empty.write_bytes(b'')
    with pytest.raises(ValueError, match=r'empty.png.*0 bytes'):
        load_image(str(empty), 32)
    text = tmp_path / 'notes.jpg'
    text.write_text('not an image at all')
    with pytest.raises(ValueError, match=r'notes.jpg.*not an image'):
        load_image(str(text), 32)
    tiny = _save(tmp_path, 'tiny.png', np.zeros((8, 40, 3), np.uint8))
    with pytest.raises(ValueError, match=r'tiny.png.*40x8.*minimum of 16'):
        load_image(tiny, 32)
    big = tmp_path / 'big.bin.png'
    big.write_bytes(b'\0' * 100)
    with pytest.raises(ValueError, match=r'over the limit of 0 MB'):
        load_image(str(big), 32, max_bytes=10)
    with pytest.raises(ValueError, match='resize'):
        load_image(tiny, 32, resize='stretch')


def test_huge_header_refused_before_decoding(tmp_path):
    path = _save(tmp_path, 'bomb.png', np.zeros((16, 16), np.uint8))
    _patch_png_size(path, 9000, 9000)
    with pytest.raises(ValueError, match=r'bomb.png.*9000x9000.*8192'):
        check_image_file(path)
    with pytest.raises(ValueError, match=r'9000x9000.*8192 px a side'):
        load_image(path, 32)


def test_truncated_file_is_a_clear_error(tmp_path):
    path = _save(tmp_path, 'cut.png',
                 np.random.default_rng(0).integers(0, 255, (64, 64, 3),
                                                   dtype=np.uint8))
    data = open(path, 'rb').read()
    open(path, 'wb').write(data[:len(data) // 2])
    with pytest.raises(ValueError, match=r'cut.png'):
        load_image(path, 32)
