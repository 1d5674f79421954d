import gzip
import os
import pickle
import struct
import threading
import time
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from milestones.data import BatchLoader, load_image_data, read_class_folders, read_idx, shift
from milestones.data.batches import random_crop, random_flip
from milestones.data import images
from milestones.data.decode import read_image
from milestones.data.images import load_cifar10
from milestones.data.transforms import ImageTransform
from milestones.errors import DataError
from milestones.predict import image_tensor


# --- IDX ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, first_labels", [
    ("mnist", [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]),  # the well-known first MNIST training labels
    ("fashion_mnist", [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]),  # ankle boot, T-shirt, T-shirt, dress, ...
])
def test_idx_counts_and_first_labels(data_root, name, first_labels):
    d = load_image_data(name, root=str(data_root), download=False)
    assert d.train_x.shape == (60000, 1, 28, 28) and d.train_x.dtype == torch.uint8
    assert d.test_x.shape == (10000, 1, 28, 28) and d.test_y.shape == (10000,)
    assert d.train_y[:10].tolist() == first_labels
    assert len(d.train_y.bincount()) == 10 and d.train_y.bincount().min() > 5000
    assert len(d.classes) == 10 and d.val_x is None


def _write_idx(path, arr: np.ndarray, magic_type=0x08):
    header = bytes([0, 0, magic_type, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_idx_round_trip_and_errors(tmp_path):
    arr = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    _write_idx(tmp_path / "ok.gz", arr)
    assert read_idx(tmp_path / "ok.gz").tolist() == arr.tolist()

    _write_idx(tmp_path / "magic.gz", arr, magic_type=0x0D)  # float data, not ours
    with pytest.raises(DataError, match="not an IDX file of unsigned bytes"):
        read_idx(tmp_path / "magic.gz")

    raw = gzip.decompress((tmp_path / "ok.gz").read_bytes())
    (tmp_path / "short").write_bytes(raw[:-5])
    with pytest.raises(DataError, match="promises 24 bytes .* holds 19"):
        read_idx(tmp_path / "short")

    (tmp_path / "cut.gz").write_bytes((tmp_path / "ok.gz").read_bytes()[:20])
    with pytest.raises(DataError, match="cannot read IDX file"):
        read_idx(tmp_path / "cut.gz")


def test_missing_data_set_says_which_files_to_put_where(tmp_path):
    with pytest.raises(DataError) as e:
        load_image_data("mnist", root=str(tmp_path), download=False)
    assert "train-images-idx3-ubyte.gz" in str(e.value) and str(tmp_path / "MNIST" / "raw") in str(e.value)
    with pytest.raises(DataError, match="cifar-10-batches-py"):
        load_image_data("cifar10", root=str(tmp_path), download=False)


def test_validation_split_and_subset_are_fixed_and_disjoint(data_root):
    a = load_image_data("mnist", root=str(data_root), val_size=5000, train_size=1000, download=False)
    b = load_image_data("mnist", root=str(data_root), val_size=5000, train_size=1000, download=False)
    assert len(a.val_x) == 5000 and len(a.train_x) == 1000
    few = load_image_data("mnist", root=str(data_root), test_size=500, download=False)
    assert len(few.test_y) == 500 and len(few.test_y.unique()) == 10  # a random subset, not the first 500
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.val_y, b.val_y)
    full = load_image_data("mnist", root=str(data_root), val_size=5000, download=False)
    assert len(full.train_x) == 55000
    # no validation image is also a training image
    flat = {bytes(x.flatten().tolist()) for x in full.val_x[:200]}
    assert not any(bytes(x.flatten().tolist()) in flat for x in full.train_x[:2000])


# --- class folders and CIFAR layouts ---------------------------------------------------------------------------------

def _make_tree(root, classes=("cat", "dog"), per_class=3, size=8):
    for split in ("train", "test"):
        for c, cls in enumerate(classes):
            (root / split / cls).mkdir(parents=True)
            for i in range(per_class):
                px = np.full((size, size, 3), 40 * c + i, dtype=np.uint8)
                Image.fromarray(px).save(root / split / cls / f"{i:04d}.png")


def test_class_folder_reader(tmp_path):
    _make_tree(tmp_path)
    x, y, classes = read_class_folders(tmp_path / "train")
    assert classes == ["cat", "dog"]
    assert x.shape == (6, 3, 8, 8) and x.dtype == torch.uint8
    assert y.tolist() == [0, 0, 0, 1, 1, 1]
    assert x[4, :, 0, 0].tolist() == [41, 41, 41]  # dog/0001.png, PNG is lossless


def test_class_folder_errors(tmp_path):
    _make_tree(tmp_path)
    (tmp_path / "train" / "dog" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="notes.txt: not an image file"):
        read_class_folders(tmp_path / "train")
    (tmp_path / "train" / "dog" / "notes.txt").unlink()
    (tmp_path / "train" / "dog" / "9999.jpg").write_bytes(b"not really a jpeg")
    with pytest.raises(DataError, match="9999.jpg: cannot decode image"):
        read_class_folders(tmp_path / "train")
    (tmp_path / "train" / "bird").mkdir()
    with pytest.raises(DataError, match="bird: empty class folder"):
        read_class_folders(tmp_path / "train")


def test_cifar_class_folders_are_decoded_once_then_cached(tmp_path, monkeypatch):
    root, cache = tmp_path / "root", tmp_path / "cache"
    _make_tree(root / "cifar10_jpeg", classes=("a", "b"), size=32)
    first = load_cifar10(root, cache, download=False)
    cached = list(cache.glob("cifar10_*.pt"))
    assert len(cached) == 1

    def no_decoding(*a, **k):
        raise AssertionError("decoded again")

    monkeypatch.setattr(images, "read_class_folders", no_decoding)
    second = load_cifar10(root, cache, download=False)  # the cache answers
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert first[0].shape == (6, 3, 32, 32)


@pytest.mark.parametrize("mtime", ["moved on", "set back"])
def test_an_image_rewritten_with_the_same_byte_count_invalidates_the_cache(tmp_path, mtime):
    """Issue #32: the cache was keyed by paths and sizes, so images rewritten with the same byte counts trained on
    the old pixels. (BMP: the byte count is the image size's, whatever the pixels.)"""
    root, cache = tmp_path / "root", tmp_path / "cache"
    for split in ("train", "test"):
        for cls in ("a", "b"):
            (root / "cifar10_jpeg" / split / cls).mkdir(parents=True)
            Image.fromarray(np.full((32, 32, 3), 10, np.uint8)).save(root / "cifar10_jpeg" / split / cls / "0.bmp")
    first = load_cifar10(root, cache, download=False)[0]
    bmp = root / "cifar10_jpeg" / "train" / "a" / "0.bmp"
    before = bmp.stat()
    time.sleep(0.05)  # past the file system's clock tick (ctime moves with every write)
    Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(bmp)  # rewritten in place: the same inode
    assert bmp.stat().st_size == before.st_size
    ns = before.st_mtime_ns + 10**9 if mtime == "moved on" else before.st_mtime_ns
    os.utime(bmp, ns=(ns, ns))
    second = load_cifar10(root, cache, download=False)[0]
    assert first[0].unique().tolist() == [10] and second[0].unique().tolist() == [200]
    assert len(list(cache.glob("cifar10_*.pt"))) == 2


# --- image files of every Pillow mode (data/decode.py) ---------------------------------------------------------------

def _palette(transparent: bool):
    im = Image.new("P", (2, 1))
    im.putpalette([0, 0, 0, 10, 20, 30])
    im.putpixel((1, 0), 1)
    return im, {"transparency": 0} if transparent else {}


MODES = {  # case -> (its two pixels as an image and save options, file suffix, Pillow's mode on reading, RGB read)
    "1-bit": (lambda: (Image.fromarray(np.array([[False, True]])), {}), ".png", "1", [(0, 0, 0), (255, 255, 255)]),
    "L": (lambda: (Image.fromarray(np.array([[0, 77]], np.uint8)), {}), ".png", "L", [(0, 0, 0), (77, 77, 77)]),
    "16-bit PNG": (lambda: (Image.fromarray(np.array([[32768, 65535]], np.uint16)), {}), ".png", "I;16",
                   [(128, 128, 128), (255, 255, 255)]),
    "16-bit TIFF": (lambda: (Image.fromarray(np.array([[0, 32768]], np.uint16)), {}), ".tif", "I;16",
                    [(0, 0, 0), (128, 128, 128)]),
    "32-bit integer TIFF": (lambda: (Image.fromarray(np.array([[0, 32768]], np.int32)), {}), ".tif", "I",
                            [(0, 0, 0), (128, 128, 128)]),
    "float TIFF": (lambda: (Image.fromarray(np.array([[0.5, 1.0]], np.float32)), {}), ".tif", "F",
                   [(128, 128, 128), (255, 255, 255)]),
    "palette": (lambda: _palette(False), ".png", "P", [(0, 0, 0), (10, 20, 30)]),
    "palette, transparent": (lambda: _palette(True), ".png", "P", [(255, 255, 255), (10, 20, 30)]),
    "CMYK": (lambda: (Image.frombytes("CMYK", (2, 1), bytes([0, 0, 0, 0, 0, 255, 255, 0])), {}), ".tif", "CMYK",
             [(255, 255, 255), (255, 0, 0)]),
    "LA": (lambda: (Image.fromarray(np.array([[[100, 0], [100, 255]]], np.uint8)), {}), ".png", "LA",
           [(255, 255, 255), (100, 100, 100)]),
    "RGBA": (lambda: (Image.fromarray(np.array([[[200, 0, 0, 0], [200, 0, 0, 255]]], np.uint8)), {}), ".png", "RGBA",
             [(255, 255, 255), (200, 0, 0)]),
    "RGB": (lambda: (Image.fromarray(np.array([[[1, 2, 3], [250, 128, 0]]], np.uint8)), {}), ".png", "RGB",
            [(1, 2, 3), (250, 128, 0)]),
}


@pytest.mark.parametrize("case", list(MODES))
def test_every_pillow_mode_is_read_at_its_full_range(case, tmp_path):
    """Issue #32: a 16-bit PNG was read as all white and a float TIFF as all black. Alpha is composited on white."""
    make, suffix, mode, rgb = MODES[case]
    im, options = make()
    path = tmp_path / f"image{suffix}"
    im.save(path, **options)
    assert Image.open(path).mode == mode
    assert np.asarray(read_image(path, 3)).tolist() == [[list(px) for px in rgb]]
    luma = np.asarray(Image.fromarray(np.array([rgb], np.uint8)).convert("L"))  # one channel: Pillow's ITU-R 601
    assert np.array_equal(np.asarray(read_image(path, 1)), luma)
    x = image_tensor(path, ImageTransform((3, 1, 2), [0.0] * 3, [1.0] * 3))  # what `predict` feeds the model: in [0, 1]
    assert torch.allclose(x, torch.tensor(rgb, dtype=torch.float32).T[:, None, :] / 255)


def test_a_16_bit_image_of_half_scale_predicts_as_grey(tmp_path):
    path = tmp_path / "grey.png"
    Image.fromarray(np.full((28, 28), 32768, np.uint16)).save(path)
    x = image_tensor(path, ImageTransform((1, 28, 28), [0.0], [1.0]))
    assert x.shape == (1, 28, 28) and torch.allclose(x, torch.full_like(x, 128 / 255))


@pytest.mark.parametrize("values, why", [([[0, 100000]], "32-bit integer pixels from 0 to 100000"),
                                         ([[0.0, 255.0]], "float pixels from 0 to 255"),
                                         ([[0.0, float("nan")]], "float pixels that are not all numbers")])
def test_pixels_of_an_unknown_range_are_refused(values, why, tmp_path):
    path = tmp_path / "odd.tif"
    Image.fromarray(np.array(values, np.int32 if isinstance(values[0][0], int) else np.float32)).save(path)
    with pytest.raises(DataError, match=why):
        read_image(path)


def test_only_regular_files_are_opened_a_named_pipe_does_not_hang(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)

    def unblock():  # were the pipe opened for reading, it would wait for a writer for ever: be one after 3 s
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # no reader: as it should be
            pass

    timer = threading.Timer(3.0, unblock)
    timer.start()
    try:
        start = time.perf_counter()
        with pytest.raises(DataError, match="pipe.png: a named pipe, not an image file"):
            read_image(fifo)
        assert time.perf_counter() - start < 1.0
    finally:
        timer.cancel()
    with pytest.raises(DataError, match="a folder, not an image file"):
        read_image(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_image(tmp_path / "missing.png")


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG of a few dozen bytes whose header claims width x height pixels (no pixel data follows)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + \
        chunk(b"IEND", b"")


def test_images_over_the_pixel_limit_are_one_line(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_claiming(100_000, 100_000))
    with pytest.raises(DataError, match="bomb.png: more pixels than the 89,478,485 Pillow decodes safely"):
        read_image(bomb)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    for side in (12, 15):  # over the limit (Pillow warns), over twice the limit (Pillow raises)
        Image.fromarray(np.zeros((side, side), np.uint8)).save(tmp_path / f"{side}.png")
        with pytest.raises(DataError, match="more pixels than the 100 Pillow decodes safely"):
            read_image(tmp_path / f"{side}.png")
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "10.png")
    assert read_image(tmp_path / "10.png").size == (10, 10)  # at the limit: read


def test_cifar_official_pickled_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), "labels": [0, 1, 2, 3]}, f)
    tx, ty, vx, vy = load_cifar10(tmp_path, tmp_path / "cache", download=False)
    assert tx.shape == (20, 3, 32, 32) and vx.shape == (4, 3, 32, 32)
    assert ty.tolist() == [0, 1, 2, 3] * 5
    assert not (tmp_path / "cache").exists()  # exact pixels need no cache


def test_data_root_is_never_written(tmp_path):
    root = tmp_path / "ro"
    _make_tree(root / "cifar10_jpeg", size=32)
    before = sorted(str(p) for p in root.rglob("*"))
    load_cifar10(root, tmp_path / "cache", download=False)
    assert sorted(str(p) for p in root.rglob("*")) == before


# --- batched augmentation ------------------------------------------------------------------------------------------

def test_random_crop_shapes_and_values():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(1, 256, (64, 3, 32, 32), dtype=torch.uint8)
    out = random_crop(x, 4, torch.randint(0, 9, (64, 2), generator=g))
    assert out.shape == x.shape and out.dtype == torch.uint8
    # each crop is a shifted copy: every non-zero pixel comes from the original, zeros come from the padding
    assert (out == 0).any()
    for i in range(8):
        nz = out[i][out[i] > 0]
        assert set(nz.unique().tolist()) <= set(x[i].unique().tolist())
    assert torch.equal(random_crop(x, 0, torch.zeros(64, 2, dtype=torch.long)), x)
    assert torch.equal(random_crop(x, 4, torch.full((64, 2), 4))[:, :, :, :], x)  # centre window: the original
    shifted = random_crop(x, 4, torch.tensor([[4, 5]] * 64))  # one pixel right: last column is padding
    assert torch.equal(shifted[:, :, :, :-1], x[:, :, :, 1:]) and (shifted[:, :, :, -1] == 0).all()


@pytest.mark.parametrize("dy, dx", [(2, 2), (-2, -2), (1, -3), (0, 4), (0, 0)])
def test_translate_shows_the_training_crop_at_that_offset(dy, dx):
    # test-time shifts (trainer.test_shift) must be views that training showed: random_crop at offset (p-dy, p-dx)
    x = torch.randint(1, 256, (5, 3, 32, 32), dtype=torch.uint8)
    crop = random_crop(x, 4, torch.tensor([[4 - dy, 4 - dx]] * 5))
    assert torch.equal(shift(x, dy, dx, torch.zeros(3, dtype=torch.uint8)), crop)
    xf = x.float().contiguous(memory_format=torch.channels_last)
    out = shift(xf, dy, dx, torch.tensor([-1.0, -2.0, -3.0]))
    assert out.is_contiguous(memory_format=torch.channels_last)
    border = crop == 0  # where the crop shows padding, the shifted float image shows the fill
    assert torch.equal(out[border], torch.tensor([-1.0, -2.0, -3.0]).view(1, 3, 1, 1).expand_as(out)[border])
    assert torch.equal(out[~border], crop[~border].float())


def test_random_flip_mirrors_about_half():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (1000, 1, 4, 4), dtype=torch.uint8)
    out = random_flip(x, torch.rand(1000, generator=g) < 0.5)
    same = (out == x).flatten(1).all(1)
    mirrored = (out == x.flip(3)).flatten(1).all(1)
    assert (same | mirrored).all()
    assert 400 < mirrored.sum().item() < 600


def test_alternate_flip_mirrors_each_image_in_every_other_epoch():
    # Jordan 2024 (arXiv:2404.00498): a random orientation per image in odd epochs, the mirror image in even ones
    x = torch.randint(0, 256, (200, 3, 6, 6), dtype=torch.uint8)
    y = torch.arange(200)
    loader = BatchLoader(x, y, batch_size=64, mean=(0.0,) * 3, std=(1 / 255,) * 3, shuffle=True, flip=True,
                         alternate_flip=True, seed=3)

    def mirrored(epoch):  # (N,) True where image i was shown mirrored in this epoch
        loader.set_epoch(epoch)
        out, seen = torch.zeros(200, dtype=torch.bool), torch.zeros(200, dtype=torch.bool)
        for xb, yb in loader:
            same = ((xb - x[yb]).abs() < 0.01).flatten(1).all(1)  # x * 1/(255 std) with std 1/255: x, to rounding
            out[yb] = ((xb - x[yb].flip(3)).abs() < 0.01).flatten(1).all(1)
            assert (same ^ out[yb]).all()  # each image exactly as stored or exactly mirrored
            seen[yb] = True
        assert seen.all()
        return out

    m1, m2, m3 = mirrored(1), mirrored(2), mirrored(3)
    assert 70 < m1.sum().item() < 130  # a random start, about half mirrored
    assert torch.equal(m2, ~m1) and torch.equal(m3, m1)  # then alternating, whatever the batch order


def test_batch_loader_normalises_and_replays_each_epoch():
    x = torch.randint(0, 256, (100, 3, 8, 8), dtype=torch.uint8)
    y = torch.arange(100)
    loader = BatchLoader(x, y, batch_size=32, mean=(0.5,) * 3, std=(0.25,) * 3, shuffle=True, crop_padding=2,
                         flip=True, seed=1)
    assert len(loader) == 4
    loader.set_epoch(1)
    a = list(loader)
    b = list(loader)
    loader.set_epoch(2)
    c = list(loader)
    assert [len(yb) for _, yb in a] == [32, 32, 32, 4]
    assert all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(a, b))
    assert not torch.equal(a[0][1], c[0][1])
    assert sorted(torch.cat([yb for _, yb in a]).tolist()) == list(range(100))
    xb = a[0][0]
    assert xb.dtype == torch.float32 and xb.shape == (32, 3, 8, 8)
    assert xb.min() >= (0 - 0.5) / 0.25 - 1e-5 and xb.max() <= (1 - 0.5) / 0.25 + 1e-5

    # two ranks of a DDP job together see exactly the batches of one process, crops and flips included
    shards = [BatchLoader(x, y, batch_size=32, mean=(0.5,) * 3, std=(0.25,) * 3, shuffle=True, crop_padding=2,
                          flip=True, seed=1, rank=r, world_size=2) for r in range(2)]
    for s in shards:
        s.set_epoch(1)
    for (xa, ya), (x0, y0), (x1, y1) in zip(a, *shards):
        assert torch.equal(xa[0::2], x0) and torch.equal(xa[1::2], x1) and torch.equal(ya[1::2], y1)
    dropped = BatchLoader(x, y, batch_size=32, mean=(0.5,) * 3, std=(0.25,) * 3, drop_last=True)
    assert len(dropped) == 3 and len(list(dropped)) == 3

    plain = BatchLoader(x, y, batch_size=100, mean=(0.5,) * 3, std=(0.25,) * 3)
    (xb, yb), = list(plain)
    assert torch.allclose(xb, (x.float() / 255 - 0.5) / 0.25, atol=1e-5) and torch.equal(yb, y)


@pytest.mark.parametrize("mixup, cutmix", [(0.8, 0.0), (0.0, 1.0), (0.8, 1.0)])
def test_mixup_and_cutmix_blend_images_and_targets_alike_and_shard_exactly(mixup, cutmix):
    """Each mixed image is its own image and its partner's (the global batch reversed) in the proportion its target
    says: a pixel-wise blend (mixup) or a pasted box (CutMix); the draws replay per epoch, and two DDP ranks get
    exactly the rows of one process's batches."""
    x = torch.randint(0, 256, (100, 3, 8, 8), dtype=torch.uint8)
    y = torch.arange(100) % 10
    common = dict(batch_size=32, mean=(0.5,) * 3, std=(0.25,) * 3, shuffle=True, seed=1, mixup=mixup, cutmix=cutmix,
                  num_classes=10)
    loader, plain = BatchLoader(x, y, **common), BatchLoader(x, y, **{**common, "mixup": 0.0, "cutmix": 0.0})
    for l in (loader, plain):
        l.set_epoch(1)
    mixed, clean = list(loader), list(plain)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(mixed, list(loader)))  # replays
    kinds = set()
    for (xm, ym), (xc, yc) in zip(mixed, clean):
        assert ym.shape == (len(yc), 10) and torch.allclose(ym.sum(1), torch.ones(len(yc)))
        partner = xc.flip(0)
        lam = ym[torch.arange(len(yc)), yc]  # the own label's weight (the partner's label may be the same)
        differ = yc != yc.flip(0)  # where the two labels differ, lam is readable from the target
        is_own, is_partner = (xm == xc).float().mean((1, 2, 3)), (xm == partner).float().mean((1, 2, 3))
        if ((is_own + is_partner) >= 0.999).all() and (is_partner < 1).any():  # CutMix: every pixel one or other
            kinds.add("cutmix")
            pasted = (xm != xc).any(1)  # (B, H, W): the partner's box (a pixel equal by chance inside it aside)
            rows, cols = pasted.any(2).float(), pasted.any(1).float()
            share = 1 - rows.sum(1) * cols.sum(1) / 64  # the box's bounding rectangle, out of 8 x 8
            assert torch.allclose(share[differ], lam[differ], atol=1e-6)
        else:
            kinds.add("mixup")
            blend = lam.view(-1, 1, 1, 1) * xc + (1 - lam.view(-1, 1, 1, 1)) * partner
            assert torch.allclose(xm[differ], blend[differ], atol=1e-5)
    assert kinds == ({"mixup"} if not cutmix else {"cutmix"} if not mixup else {"mixup", "cutmix"})

    shards = [BatchLoader(x, y, **common, rank=r, world_size=2) for r in range(2)]
    for s in shards:
        s.set_epoch(1)
    for (xa, ya), (x0, y0), (x1, y1) in zip(mixed, *shards):
        assert torch.equal(xa[0::2], x0) and torch.equal(xa[1::2], x1)
        assert torch.equal(ya[0::2], y0) and torch.equal(ya[1::2], y1)
