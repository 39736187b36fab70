"""Per-batch resizing, augmentation and normalization of stored uint8 images."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from worker.training.transforms import AUGMENTS, _random_boxes, iterate_batches, prepare_batch

RANDOM_AUGMENTS = ("flip", "crop_flip", "resized_crop_flip")


def _images(batch: int = 8, side: int = 32, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 3, side, side), dtype=torch.uint8, generator=generator)


def _solid(red: int, green: int, blue: int, side: int = 4) -> torch.Tensor:
    return torch.tensor([red, green, blue], dtype=torch.uint8).view(1, 3, 1, 1).expand(2, 3, side, side)


def _train(images: torch.Tensor, augment: str, seed: int, image_size: int = 32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return prepare_batch(
        images, train=True, image_size=image_size, augment=augment, normalization="caffe", generator=generator
    )


def _eval(images: torch.Tensor, image_size: int, normalization: str = "caffe") -> torch.Tensor:
    return prepare_batch(images, train=False, image_size=image_size, augment="none", normalization=normalization)


def test_caffe_normalization_gives_bgr_0_255_minus_the_means() -> None:
    out = _eval(_solid(10, 20, 30), image_size=4)
    expected = torch.tensor([30 - 103.939, 20 - 116.779, 10 - 123.68])
    assert torch.allclose(out[0, :, 0, 0], expected, atol=1e-4)


def test_imagenet_normalization_gives_rgb_over_255_standardised() -> None:
    out = _eval(_solid(10, 20, 30), image_size=4, normalization="imagenet")
    expected = (torch.tensor([10, 20, 30]) / 255 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor(
        [0.229, 0.224, 0.225]
    )
    assert torch.allclose(out[0, :, 0, 0], expected, atol=1e-6)


def test_the_output_is_float32_at_image_size() -> None:
    out = _eval(_images(side=37), image_size=32)
    assert (out.shape, out.dtype) == ((8, 3, 32, 32), torch.float32)


def test_eval_is_deterministic() -> None:
    images = _images(side=37)
    assert torch.equal(_eval(images, 32), _eval(images, 32))


def test_eval_of_a_256px_stored_image_is_its_central_224px_crop() -> None:
    images = _images(batch=2, side=256)
    assert torch.equal(_eval(images, 224), _eval(images[:, :, 16:240, 16:240].contiguous(), 224))


def test_eval_resizes_native_size_images_up_to_image_size() -> None:
    out = _eval(_solid(10, 20, 30, side=8), image_size=32)
    assert out.shape[-2:] == (32, 32) and torch.allclose(out, out[:, :, :1, :1].expand_as(out), atol=1e-4)


@pytest.mark.parametrize("augment", AUGMENTS)
def test_training_augmentation_is_reproducible_with_the_same_seed(augment: str) -> None:
    images = _images(side=37)
    assert torch.equal(_train(images, augment, seed=1), _train(images, augment, seed=1))


@pytest.mark.parametrize("augment", RANDOM_AUGMENTS)
def test_training_augmentation_differs_with_another_seed(augment: str) -> None:
    images = _images(side=37)
    assert not torch.equal(_train(images, augment, seed=1), _train(images, augment, seed=2))


def test_no_augmentation_trains_on_the_eval_view() -> None:
    images = _images(side=37)
    assert torch.equal(_train(images, "none", seed=1), _eval(images, 32))


def test_flip_mirrors_some_images_left_right_and_leaves_the_others() -> None:
    images = _images(batch=32)
    out, plain = _train(images, "flip", seed=0), _eval(images, 32)
    mirrored = [torch.equal(o, p.flip(-1)) for o, p in zip(out, plain)]
    untouched = [torch.equal(o, p) for o, p in zip(out, plain)]
    assert any(mirrored) and any(untouched) and all(m or u for m, u in zip(mirrored, untouched))


def test_crop_flip_takes_a_window_of_the_image_padded_by_an_eighth() -> None:
    images = _images(batch=4, side=16)
    padded = _eval(torch.nn.functional.pad(images, (2, 2, 2, 2)), 20)  # black borders, like RandomCrop
    out = _train(images, "crop_flip", seed=0, image_size=16)
    for sample, source in zip(out, padded):
        windows = [source[:, y : y + 16, x : x + 16] for y in range(5) for x in range(5)]
        assert any(torch.equal(sample, w) or torch.equal(sample, w.flip(-1)) for w in windows)


def test_resized_crop_flip_draws_its_own_crop_for_each_image() -> None:
    same = _images(batch=1, side=48).expand(6, -1, -1, -1)
    out = _train(same, "resized_crop_flip", seed=0)
    assert len({tuple(sample.flatten()[:64].tolist()) for sample in out}) == 6


@pytest.mark.parametrize("side", [32, 37])
@pytest.mark.parametrize("augment", ["crop_flip", "resized_crop_flip"])
def test_cropping_augmentations_keep_shape_and_dtype(augment: str, side: int) -> None:
    out = _train(_images(side=side), augment, seed=0, image_size=32)
    assert (out.shape, out.dtype) == ((8, 3, 32, 32), torch.float32)


def test_unknown_augment_is_refused_naming_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="resized_crop_flip"):
        prepare_batch(_images(), train=True, image_size=32, augment="mixup", normalization="imagenet")


def test_batches_cover_every_index_once_and_keep_the_last_partial_batch() -> None:
    batches = list(iterate_batches(10, 4, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert [len(b) for b in batches] == [4, 4, 2] and sorted(torch.cat(batches).tolist()) == list(range(10))


def test_unshuffled_batches_are_in_order() -> None:
    assert torch.cat(list(iterate_batches(5, 2, shuffle=False, generator=None))).tolist() == [0, 1, 2, 3, 4]


def test_shuffled_batches_follow_the_generator_seed() -> None:
    def order(seed: int) -> list[int]:
        generator = torch.Generator().manual_seed(seed)
        return torch.cat(list(iterate_batches(50, 8, shuffle=True, generator=generator))).tolist()

    assert order(3) == order(3) and order(3) != order(4)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("augment", AUGMENTS)
def test_a_seed_gives_the_same_augmentation_on_cuda_as_on_cpu(augment: str) -> None:
    images = _images(side=37)
    on_cuda = _train(images.cuda(), augment, seed=5)
    assert on_cuda.is_cuda and torch.allclose(on_cuda.cpu(), _train(images, augment, seed=5), atol=1e-2)


def test_resized_crop_areas_span_torchvisions_scale_of_8_to_100_percent() -> None:
    boxes = _random_boxes(torch.tensor([[200, 200]]).expand(20_000, 2), torch.Generator().manual_seed(0))
    areas = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / 200**2).tolist()

    assert 0.075 < min(areas) < 0.1  # torchvision's RandomResizedCrop: scale (0.08, 1)
    assert max(areas) > 0.95


def _torchvision_boxes(width: int, height: int, count: int, seed: int) -> torch.Tensor:
    """`count` boxes x0, y0, x1, y1 from torchvision's own RandomResizedCrop (default scale and ratio)."""
    from torchvision.transforms import RandomResizedCrop

    torch.manual_seed(seed)
    image = torch.empty(3, height, width)
    boxes = []
    for _ in range(count):
        top, left, h, w = RandomResizedCrop.get_params(image, scale=[0.08, 1.0], ratio=[3 / 4, 4 / 3])
        boxes.append((left, top, left + w, top + h))
    return torch.tensor(boxes, dtype=torch.float64)


def _box_statistics(boxes: torch.Tensor, width: int, height: int) -> dict[str, np.ndarray]:
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return {
        "area share": (w * h / (width * height)).numpy(),
        "log aspect": (w / h).log().numpy(),
        "centre x": ((boxes[:, 0] + boxes[:, 2]) / 2 / width).numpy(),
        "centre y": ((boxes[:, 1] + boxes[:, 3]) / 2 / height).numpy(),
    }


@pytest.mark.parametrize(("width", "height"), [(500, 375), (333, 500), (200, 200), (1000, 180)])
def test_resized_crop_boxes_follow_torchvisions_distribution_in_the_originals_pixels(width: int, height: int) -> None:
    # 500x375 and 333x500: Ants & Bees shapes; 1000x180: a panorama, where most tries fail and
    # torchvision falls back to its central box. Two-sample Kolmogorov-Smirnov per statistic.
    count = 8000
    ours = _random_boxes(torch.tensor([[width, height]]).expand(count, 2), torch.Generator().manual_seed(0))
    theirs = _torchvision_boxes(width, height, count, seed=1)
    for name, sample in _box_statistics(ours.double(), width, height).items():
        result = scipy.stats.ks_2samp(sample, _box_statistics(theirs, width, height)[name])
        assert result.pvalue > 1e-3, f"{name}: KS statistic {result.statistic:.3f}, p {result.pvalue:.1e}"
    assert ours[:, 0].min() >= 0 and ours[:, 1].min() >= 0
    assert (ours[:, 2] <= width).all() and (ours[:, 3] <= height).all()


def test_resized_crops_of_a_wide_image_stored_whole_reach_beyond_its_central_square() -> None:
    # A 300x100 original, stored whole as a 32x32 square (sizes say 300x100): its left and right
    # thirds (red) lie outside the central 100x100 square (green). Crops over the whole image see
    # red; crops of the stored square as if it were the image (the old central-square store) do not.
    wide = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    wide[:, 0, :, :11], wide[:, 0, :, 21:] = 255, 255
    wide[:, 1, :, 11:21] = 255
    central = torch.zeros(1, 3, 32, 32, dtype=torch.uint8)
    central[:, 1] = 255
    batch = 2000
    sizes = torch.tensor([[300, 100]]).expand(batch, 2)
    generator = torch.Generator().manual_seed(0)
    crops = prepare_batch(wide.expand(batch, -1, -1, -1), train=True, image_size=16, augment="resized_crop_flip",
                          normalization="caffe", generator=generator, sizes=sizes)  # fmt: skip
    old = _train(central.expand(batch, -1, -1, -1), "resized_crop_flip", seed=0, image_size=16)
    red_share = lambda x: ((x[:, 2] + 123.68) > 128).float().mean(dim=(1, 2))  # caffe: BGR, mean-subtracted
    assert (red_share(crops) > 0.05).float().mean() > 0.5  # most crops reach a red third
    assert red_share(old).max() == 0


def test_sizes_are_refused_outside_training_with_resized_crops() -> None:
    with pytest.raises(ValueError, match="resized_crop_flip"):
        prepare_batch(_images(), train=False, image_size=32, augment="none", normalization="caffe",
                      sizes=torch.tensor([[40, 30]]).expand(8, 2))  # fmt: skip
