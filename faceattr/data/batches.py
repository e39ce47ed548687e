"""An epoch's batches on the training device: where the images live (on the GPU when they fit) and how
batches reach it (gathered on a helper thread into pinned memory while the previous batch trains)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch

from faceattr.data.pixels import Images, TensorImages, to_device


def place(images: Images, device: torch.device, fraction: float = 0.5) -> Images:
    """GPU-resident data when it fits in `fraction` of the free GPU memory; otherwise (and on the CPU,
    where the memory-mapped cache already is the fastest source) batches are gathered from the host."""
    if device.type != "cuda":
        return images
    free, _ = torch.cuda.mem_get_info(device)
    needed = len(images) * 3 * images.size[0] * images.size[1]
    return to_device(images, device) if needed <= fraction * free else images


class Batches:
    """An epoch's batches as uint8 tensors on the training device.

    From host memory to a GPU, the next batch is gathered into pinned memory on a helper thread while
    the current one trains, and copied without blocking; otherwise batches are gathered in place.
    """

    def __init__(self, images: Images, device: torch.device, index_batches: list[torch.Tensor]):
        self.images, self.device, self.index_batches = images, device, index_batches
        on_device = isinstance(images, TensorImages) and images.tensor.device.type == device.type
        self.prefetch = device.type == "cuda" and not on_device

    def _host(self, idx: torch.Tensor) -> torch.Tensor:
        return self.images.gather(idx).pin_memory()

    def __iter__(self):
        if not self.prefetch:
            for idx in self.index_batches:
                yield self.images.gather(idx).to(self.device)
            return
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(self._host, self.index_batches[0]) if self.index_batches else None
            for k in range(len(self.index_batches)):
                batch = pending.result()
                if k + 1 < len(self.index_batches):
                    pending = pool.submit(self._host, self.index_batches[k + 1])
                yield batch.to(self.device, non_blocking=True)
