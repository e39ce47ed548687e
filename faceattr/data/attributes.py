"""The CelebA attribute vocabulary, in the official column order of list_attr_celeba.txt."""

from __future__ import annotations

from typing import Sequence

from faceattr.errors import FaceattrError

CELEBA_ATTRIBUTES: tuple[str, ...] = (
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
)


def select_attributes(requested: str | Sequence[str], available: Sequence[str], source: str) -> list[str]:
    """Resolve the `attributes` param ('all' or a list of names) against the columns a file has."""
    if isinstance(requested, str):
        if requested != "all":
            raise FaceattrError(f"labels.attributes: expected a list of names or 'all', got {requested!r}")
        return list(available)
    if not requested:
        raise FaceattrError("labels.attributes: the list is empty; name at least one attribute or use 'all'")
    unknown = [name for name in requested if name not in available]
    if unknown:
        raise FaceattrError(
            f"labels.attributes: unknown attribute(s) {', '.join(map(repr, unknown))}; "
            f"{source} has: {' '.join(available)}"
        )
    if len(set(requested)) != len(requested):
        raise FaceattrError("labels.attributes: an attribute is listed twice")
    return list(requested)
