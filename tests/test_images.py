"""Batched augmentation: random erasing draws per-image boxes and leaves the other pixels alone."""

import torch

from faceattr.train.augment import ERASE_AREA, augment_batch, draw_augment

MEAN, STD = [0.5, 0.5, 0.5], [0.25, 0.25, 0.25]


def test_random_erasing_blanks_one_box_per_chosen_image_and_nothing_else():
    batch = torch.randint(10, 250, (200, 3, 48, 40), generator=torch.Generator().manual_seed(1)).to(torch.uint8)
    draw = draw_augment(200, torch.Generator().manual_seed(0), hflip=False, brightness=0.2, erase=0.5)
    out = augment_batch(batch, draw, MEAN, STD)
    plain = augment_batch(
        batch, draw_augment(200, torch.Generator().manual_seed(0), hflip=False, brightness=0.2), MEAN, STD
    )
    zero = (out == 0).all(1)  # N×H×W: erased pixels (0 = the mean)
    erased = zero.flatten(1).any(1)
    assert 60 < int(erased.sum()) < 140  # about half the images, drawn per image
    for i in range(200):
        if not erased[i]:
            assert torch.equal(out[i], plain[i])
            continue
        rows, cols = zero[i].any(1).nonzero().squeeze(1), zero[i].any(0).nonzero().squeeze(1)
        top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        assert zero[i, top:bottom, left:right].all() and int(zero[i].sum()) == (bottom - top) * (right - left)
        area = (bottom - top) * (right - left) / (48 * 40)
        assert ERASE_AREA[0] * 0.5 < area < ERASE_AREA[1] * 1.15
        keep = ~zero[i]
        assert torch.equal(out[i][:, keep], plain[i][:, keep])


def test_erasing_off_keeps_the_random_stream_and_a_share_keeps_its_boxes():
    on = draw_augment(16, torch.Generator().manual_seed(3), max_rotate_deg=5, erase=1.0)
    off = draw_augment(16, torch.Generator().manual_seed(3), max_rotate_deg=5)
    assert torch.equal(on.angle, off.angle) and off.erase_box is None
    assert torch.equal(on[8:16].erase_box, on.erase_box[8:16])
