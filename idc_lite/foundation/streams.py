"""Random streams that never meet: every consumer of randomness gets a stream of its own.

Why this module exists.  The label images are built, as the authors build them, from the first
``K x (C*H*W)`` normals of ``torch.Generator().manual_seed(0)``.  A sampler that drew its noise
straight from a caller's ``Generator().manual_seed(0)`` would draw those very numbers: row i of its
first draw *is* the Gaussian that label image i was made from, so example i of every batch would be
pushed towards class i (one batch of 100 digits: 92 % instead of 99 %; batch size 1: 4 %, every
example pushed towards class 0).  The authors did not see this because their sampler drew from the
CUDA generator and their label images from the CPU one.

The remedy follows numpy's ``SeedSequence.spawn`` and JAX's split keys: a consumer never draws from
the generator it is handed.  It takes one 63-bit integer from it, hashes that integer together with
the consumer's name (BLAKE2b), and seeds a child generator with the digest.  So

* the same parent state gives the same child (reproducible: the same seed, the same noise);
* successive calls on one parent give fresh children (the parent advances by one draw);
* no seed a user may pass, 0 included, seeds the child with a small integer such as the label
  images' seed (a 63-bit hash lands on one with chance about 2**-59);
* two consumers with different names handed the same parent state draw unrelated numbers.

The label images themselves keep the authors' recipe bit for bit (:mod:`idc_lite.model.label_images`);
explicit noise tensors (``noise=``) are used as given.
"""
from __future__ import annotations

import hashlib

import torch

SAMPLER_NOISE = "sampler-noise"   # the classifier's sampler draws (idc_lite.model.classifier)


_SEED_LIMIT = 2**63 - 1


def hashed_seed(value: int, purpose: str) -> int:
    """A 63-bit seed from an integer and a consumer's name: BLAKE2b of ``'idc_lite/<purpose>/<value>'``."""
    digest = hashlib.blake2b(f"idc_lite/{purpose}/{int(value)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & _SEED_LIMIT


def spawn(parent: torch.Generator, purpose: str) -> torch.Generator:
    """A child generator (on the parent's device) for one consumer named ``purpose``.

    Takes one integer draw from ``parent`` (so the parent advances and the next spawn differs) and
    seeds the child with :func:`hashed_seed` of it.  Example::

        noise_source = spawn(torch.Generator().manual_seed(0), SAMPLER_NOISE)
    """
    if not isinstance(parent, torch.Generator):
        raise TypeError(f"parent must be a torch.Generator, got {type(parent).__name__}")
    draw = int(torch.randint(0, _SEED_LIMIT, (), generator=parent, device=parent.device))
    return torch.Generator(device=parent.device).manual_seed(hashed_seed(draw, purpose))


def seeded(seed: int, purpose: str) -> torch.Generator:
    """A generator for one named consumer of an integer seed: the same seed and purpose give the same
    stream, two purposes give unrelated ones (what ``Generator().manual_seed(seed + offset)`` schemes
    only promise while the offsets never overlap)."""
    return torch.Generator().manual_seed(hashed_seed(seed, purpose))


def sampler_noise_generator(generator: torch.Generator) -> torch.Generator:
    """The stream the classifier's sampler draws its noise from, given the caller's generator."""
    return spawn(generator, SAMPLER_NOISE)




def draw_copies(x: torch.Tensor, k: int) -> torch.Tensor:
    """``k`` copies of a batch x (B, ...) stacked as (k B, ...): copy j of example i is row j B + i.  One call of a
    random model on it gives each row noise of its own, so it stands for k draws on x (``.view(k, B)`` of a
    per-row result gives draw j's row j); a few large calls use the machine far better than many small ones."""
    return x if k == 1 else x.repeat(k, *([1] * (x.dim() - 1)))
